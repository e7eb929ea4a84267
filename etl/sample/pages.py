"""How one sample page reads: defect texts, PII, near-duplicate edits, sites and URLs.

``etl.sample.stage`` decides *which* page to write; this module owns the pieces of its text:
keyword spam, repeated-line and short pages, foreign-language text (frequency-weighted
``wordfreq`` vocabulary), PII values (emails, phones in several formats, IPv4, Luhn-valid
card numbers, checksum-valid IBANs, US social security numbers), small near-duplicate edits
checked with word 5-gram Jaccard, site names and URL paths. :mod:`etl.sample.files` wraps the text in HTML, HTTP and WARC records and writes
the shards. Everything random comes from the ``random.Random`` passed in.

Example::

    >>> import random
    >>> from etl.sample.pages import luhn_ok, make_card
    >>> luhn_ok(make_card(random.Random(3)).replace(" ", "").replace("-", ""))
    True
"""

from __future__ import annotations

import random
import re
from functools import cache
from itertools import accumulate

SPAM_KEYWORDS = ("cheap flights", "best price", "buy now", "free shipping", "discount code",
                 "casino bonus", "payday loans", "weight loss pills", "replica watches",
                 "online pharmacy", "crypto signals", "make money fast", "free spins",
                 "instant approval", "limited offer", "lowest price guaranteed",
                 "work from home", "cheap seo services", "buy followers", "luxury handbags")
SPAM_FILLERS = ("best", "top", "online", "2024", "today", "cheap", "official", "sale", "deal",
                "click here", "now", "free", "order")
SHORT_PAGES = ("Coming soon.", "This page has been removed.", "Subscribe to read the full story.",
               "Log in to continue reading.", "Page not available in your region.",
               "Thanks for signing up! Check your inbox.", "Under construction, back soon.")
# Non-ASCII but cp1252-encodable, so a wrong or missing charset really changes the decoding.
ACCENTED = ("“We ordered crème brûlée at the café,” {name} said after the trip to Zürich.",
            "The naïve résumé from {city} still mentioned the old façade — déjà vu for everyone.",
            "{name}’s fiancée loved the jalapeño piñata and the smörgåsbord…",
            "“Über cool,” wrote {name}, who met a doppelgänger in São Paulo and Bogotá.",
            "The entrée in Montréal cost 25 € and came with a café au lait.")
PII_TEMPLATES = {
    "email": ("For questions, contact {n} at {v}.", "Send your photos to {v} before Friday.",
              "{n} can be reached at {v} for comment."),
    "phone": ("Call {n} on {v} to book a slot.", "The office phone number is {v}.",
              "Readers can reach {n} at {v} on weekdays."),
    "ipv4": ("The server at {v} logged the request.", "Requests from {v} were blocked.",
             "{n} traced the login to {v} last night."),
    "card": ("A reader said the card {v} was charged twice.",
             "{n} paid with card number {v} at the desk.",
             "Refunds go back to the card number {v} within a week."),
    "iban": ("Transfer the deposit to IBAN {v} by Monday.",
             "{n} listed the account {v} for refunds.",
             "Donations go to {v} at the local bank."),
    "ssn": ("{n} wrote the social security number {v} on the form.",
            "The leaked file held SSN {v} among others.",
            "Applicants like {n} must never post a number such as {v} online."),
}
# (country, letters at the start of the account part, total IBAN length)
IBAN_FORMATS = (("DE", 0, 22), ("FR", 0, 27), ("GB", 4, 22), ("NL", 4, 18))
_WORD = re.compile(r"\w+")


# -- defect pages -------------------------------------------------------------------------
def spam_page(rng: random.Random, cities: list[str]) -> tuple[str, list[str]]:
    """Keyword stuffing: a few commercial phrases repeated dozens of times."""
    kws = rng.sample(SPAM_KEYWORDS, rng.randint(3, 5))
    fill = [*SPAM_FILLERS, rng.choice(cities)]
    paras = []
    for _ in range(rng.randint(4, 7)):
        words = " ".join(rng.choice(kws) if rng.random() < 0.7 else rng.choice(fill)
                         for _ in range(rng.randint(30, 50)))
        paras.append(words.capitalize() + rng.choice(("!", "!!", ".", " !!!")))
    return " | ".join(k.title() for k in kws), paras


def repeated_page(eng, rng: random.Random, topic: str) -> tuple[str, list[str]]:
    """The same 2-4 lines over and over (template spam, scraped boilerplate)."""
    eng.use(rng, topic)
    lines = [eng.sentence() for _ in range(rng.randint(2, 4))]
    return eng.title(), lines * rng.randint(8, 16)


def short_page(eng, rng: random.Random, topic: str) -> tuple[str, list[str]]:
    eng.use(rng, topic)
    if rng.random() < 0.5:
        return eng.title(), [rng.choice(SHORT_PAGES)]
    words = eng.sentence().split()[:12]
    return eng.title(), [" ".join(words).rstrip(".,?") + "."]


@cache
def foreign_lexicon(lang: str) -> tuple[list[str], list[float]]:
    from wordfreq import top_n_list

    words = [w for w in top_n_list(lang, 2000) if w.isalpha()]
    # Zipf-like weights keep function words frequent, which is what makes text read as `lang`.
    return words, list(accumulate(1.0 / (rank + 3) for rank in range(len(words))))


def foreign_page(rng: random.Random, lang: str) -> tuple[str, list[str]]:
    words, cw = foreign_lexicon(lang)

    def sentence(lo: int, hi: int) -> str:
        ws = rng.choices(words, cum_weights=cw, k=rng.randint(lo, hi))
        if len(ws) > 6 and rng.random() < 0.35:
            ws[len(ws) // 2] += ","
        return " ".join(ws)

    paras = []
    for _ in range(rng.randint(3, 8)):
        sents = (sentence(6, 16) for _ in range(rng.randint(2, 6)))
        paras.append(" ".join(s[0].upper() + s[1:] + rng.choice(".....?!") for s in sents))
    return sentence(4, 7).rstrip(",").capitalize(), paras


def accented_sentence(rng: random.Random, name: str, city: str) -> str:
    return rng.choice(ACCENTED).format(name=name, city=city)


# -- PII ----------------------------------------------------------------------------------
def pii_sentence(rng: random.Random, name: str, company: str) -> tuple[str, str, str]:
    """(sentence with a ``{v}`` slot, PII type, value)."""
    kind = rng.choice(("email", "phone", "ipv4", "card", "email", "phone", "iban", "ssn"))
    value = {"email": lambda: make_email(rng, name, company), "phone": lambda: make_phone(rng),
             "ipv4": lambda: make_ipv4(rng), "card": lambda: make_card(rng),
             "iban": lambda: make_iban(rng), "ssn": lambda: make_ssn(rng)}[kind]()
    return rng.choice(PII_TEMPLATES[kind]).replace("{n}", name), kind, value


def make_email(rng: random.Random, name: str, company: str) -> str:
    first, _, last = name.lower().partition(" ")
    last = last.replace(" ", "")
    user = rng.choice((f"{first}.{last}", f"{first[0]}{last}",
                       f"{first}_{last}{rng.randint(1, 99)}", f"{first}{rng.randint(10, 1999)}"))
    own = "".join(c for c in company.lower() if c.isalpha())[:14] + ".com"
    return f"{user}@{rng.choice(('gmail.com', 'yahoo.com', 'outlook.com', 'example.org', own))}"


def make_phone(rng: random.Random) -> str:
    a, b, c = rng.randint(201, 989), rng.randint(200, 999), rng.randint(0, 9999)
    k = rng.randrange(8)
    if k == 6:
        return f"+44 20 {rng.randint(7000, 8999)} {rng.randint(0, 9999):04d}"
    if k == 7:
        return f"+44 7{rng.randint(100, 999)} {rng.randint(100000, 999999)}"
    fmt = ("({a}) {b}-{c:04d}", "{a}-{b}-{c:04d}", "{a}.{b}.{c:04d}", "{a} {b} {c:04d}",
           "+1 {a}-{b}-{c:04d}", "+1 ({a}) {b}-{c:04d}")[k]
    return fmt.format(a=a, b=b, c=c)


def make_ipv4(rng: random.Random) -> str:
    first = rng.choice([n for n in range(11, 224) if n != 127])
    return f"{first}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def make_card(rng: random.Random) -> str:
    """A Luhn-valid 16-digit Visa/Mastercard-like number, grouped by 4 or plain."""
    body = rng.choice(("4", "51", "52", "53", "54", "55"))
    body += "".join(str(rng.randrange(10)) for _ in range(15 - len(body)))
    digits = body + next(str(d) for d in range(10) if luhn_ok(body + str(d)))
    return rng.choice((" ", "-", "")).join(digits[i:i + 4] for i in range(0, 16, 4))


def iban_check_digits(country: str, bban: str) -> str:
    """ISO 13616: the two digits that make the rearranged IBAN's value 1 modulo 97."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{98 - int(digits) % 97:02d}"


def make_iban(rng: random.Random) -> str:
    """A checksum-valid IBAN of a few countries, written solid or in groups of four."""
    country, letters, length = rng.choice(IBAN_FORMATS)
    bban = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(letters))
    bban += "".join(str(rng.randrange(10)) for _ in range(length - 4 - letters))
    iban = country + iban_check_digits(country, bban) + bban
    return iban if rng.random() < 0.5 else " ".join(iban[i:i + 4] for i in range(0, length, 4))


def make_ssn(rng: random.Random) -> str:
    """A US social security number the SSA could issue (area not 000, 666 or 900+)."""
    area = rng.choice([a for a in range(1, 900) if a != 666])
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


# -- near duplicates ----------------------------------------------------------------------
def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_dup(eng, rng: random.Random, topic: str, paras: list[str],
             min_jaccard: float = 0.82) -> list[str]:
    """A small edit of ``paras``: a few words changed, or one line added or removed."""
    eng.use(rng, topic)
    base = "\n".join(paras)
    base_sh = shingles(base)
    for attempt in range(6):
        new = list(paras)
        k = rng.randrange(3) if attempt < 5 else 0
        if k == 1:
            new.insert(rng.randrange(len(new) + 1), eng.sentence())
        elif k == 2 and len(new) >= 4:
            del new[rng.randrange(len(new))]
        else:
            for _ in range(1 if attempt == 5 else rng.randint(1, 3)):
                i = rng.randrange(len(new))
                words = new[i].split(" ")
                j = rng.randrange(len(words))
                tail = words[j][len(words[j].rstrip(".,?!\"")):]
                words[j] = eng.adj() + tail
                new[i] = " ".join(words)
        text = "\n".join(new)
        if text != base and jaccard(shingles(text), base_sh) >= min_jaccard:
            return new
    return [*paras[:-1], paras[-1] + " Updated."]


# -- sites and URLs -----------------------------------------------------------------------
_SITE_SUFFIX = ("hub", "daily", "times", "world", "lab", "journal", "corner", "central", "notes",
                "weekly", "insider", "today")


def make_sites(rng: random.Random, words: list[str], cities: list[str], n: int
               ) -> list[tuple[str, str]]:
    """``n`` (host, site name) pairs built from topic words, e.g. ``crispyoven.com``."""
    words = [w for w in words if w.isalpha()]
    towns = ["".join(c for c in city.lower() if c.isalpha()) for city in cities]
    sites = []
    for _ in range(n):
        a, b, suf = rng.choice(words), rng.choice(words), rng.choice(_SITE_SUFFIX)
        k = rng.randrange(5)
        parts = ([a, b], [b, suf], ["the", a, b], [rng.choice(towns), b], [a, suf])[k]
        tld = rng.choice((".com", ".com", ".net", ".org", ".co.uk", ".io", ".info"))
        host = ("www." if rng.random() < 0.4 else "") + "".join(parts) + tld
        sites.append((host, " ".join(p.title() for p in parts)))
    return sites


def slugify(text: str) -> str:
    return "-".join(_WORD.findall(text.lower()))[:60].strip("-") or "page"


def make_path(rng: random.Random, n: int, title: str, topic: str) -> str:
    """A realistic article path; the serial ``n`` keeps every URL unique."""
    slug = slugify(title)
    k = rng.randrange(5)
    if k == 0:
        return f"/{rng.randint(2015, 2024)}/{rng.randint(1, 12):02d}/{slug}-{n}"
    if k == 1:
        return f"/articles/{n}/{slug}"
    if k == 2:
        return f"/{slugify(topic)}/{slug}-{n}.html"
    if k == 3:
        return f"/blog/{slug}?p={n}"
    return f"/story/{n}"
