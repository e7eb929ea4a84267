"""English page text for the sample crawl: a topic lexicon and a generative grammar.

This module owns the *words* of the synthetic crawl. :class:`English` expands sentence
templates (simple, relative, compound and subordinate clauses, questions, quotes, numbers,
dates, imperatives) over a part-of-speech lexicon with tense and number agreement: 16 topic
lexicons, general words, abstract nouns / adjectives / adverbs picked from ``wordfreq`` by
suffix, and Faker name, company, city and job pools. A small language model trained on it
sees real syntax rather than word salad. Every choice comes from the ``random.Random``
passed in, so one seed always gives the same text.

Example::

    >>> import random
    >>> from etl.sample.text import English
    >>> gen = English(seed=7)
    >>> title, paragraphs = gen.article(random.Random(1), "gardening")
    >>> len(paragraphs) >= 3 and paragraphs[0].endswith((".", "?"))
    True
"""

from __future__ import annotations

import random
from bisect import bisect
from functools import lru_cache
from itertools import accumulate

from etl.sample.lexicon import (
    ADJS,
    ADVS,
    CONNECTORS,
    DAYS,
    INTRANS,
    MODALS,
    MONTHS,
    NOUNS,
    PL_DETS,
    PREPS,
    PRONOUNS,
    SG_DETS,
    TENSES,
    TIMES,
    TOPICS,
    VERBS,
    article_for,
    noun_forms,
    suffix_words,
    title_case,
    verb_forms,
)


class Topic:
    """One topic lexicon with nouns and verbs already inflected."""

    def __init__(self, name: str, spec: dict[str, str]):
        self.name = name.replace("_", " ")
        self.people = noun_forms(spec["people"])
        self.nouns = noun_forms(spec["nouns"])
        self.verbs = [verb_forms(v) for v in spec["verbs"].split()]
        self.adjs = spec["adjs"].split()


class Names:
    """Faker pools, seeded once per run: a Faker call costs ~70 us, too slow per sentence."""

    def __init__(self, seed: int):
        from faker import Faker
        from faker.providers.person.en_US import Provider as Person

        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first = list(Person.first_names)
        self.last = list(Person.last_names)
        self.companies = [fake.company() for _ in range(700)]
        self.cities = [fake.city() for _ in range(500)]
        self.jobs = [j.lower() for j in (fake.job() for _ in range(400))
                     if j.replace(" ", "").isalpha()]

    def person(self, rng: random.Random) -> str:
        rnd = rng.random
        first, last = self.first, self.last
        return f"{first[int(rnd() * len(first))]} {last[int(rnd() * len(last))]}"


class English:
    """The grammar. ``article`` gives (title, paragraphs); ``sentence`` one sentence."""

    def __init__(self, seed: int = 0):
        self.names = Names(seed)
        self.topics = {k: Topic(k, v) for k, v in TOPICS.items()}
        self.nouns = noun_forms(NOUNS)
        self.verbs = [verb_forms(v) for v in VERBS.split()]
        self.intrans = [verb_forms(v) for v in INTRANS.split()]
        self.x_nouns, x_adjs, self.x_advs = suffix_words()
        self.adjs = ADJS.split() + x_adjs
        self.advs = ADVS.split()
        templates = [
            (self.s_simple, 5), (self.s_relative, 2), (self.s_compound, 3), (self.s_subord, 3),
            (self.s_question, 1), (self.s_quote, 1), (self.s_number, 2), (self.s_predicate, 2),
            (self.s_imperative, 1), (self.s_there, 1), (self.s_abstract, 2), (self.s_date, 1),
        ]
        self.templates = [fn for fn, _ in templates]
        self._tw = list(accumulate(w for _, w in templates))
        self.r = random.Random(0)
        self.t = self.topics["cooking"]

    def use(self, rng: random.Random, topic: str) -> None:
        self.r, self.t = rng, self.topics[topic]

    def pick(self, seq):
        # Indexing by random() is ~2x faster than Random.choice, the most frequent call here.
        return seq[int(self.r.random() * len(seq))]

    def num(self, lo: int, hi: int) -> int:
        """Like ``randint`` (inclusive), ~4x faster."""
        return lo + int(self.r.random() * (hi - lo + 1))

    # -- phrases (hot path: local ``rnd`` and list indexing instead of Random.choice) -----
    def adj(self) -> str:
        rnd = self.r.random
        seq = self.t.adjs if rnd() < 0.45 else self.adjs
        return seq[int(rnd() * len(seq))]

    def noun(self, person: bool = False) -> tuple[str, str]:
        rnd = self.r.random
        seq = self.t.people if person else self.t.nouns if rnd() < 0.7 else self.nouns
        return seq[int(rnd() * len(seq))]

    def np(self, person: bool = False) -> tuple[str, int]:
        """A noun phrase and its agreement: 3 = third singular, 1 = "I", 0 = plural."""
        rnd, t = self.r.random, self.t  # noun() and adj() inlined: this is the hottest call
        if person:
            if rnd() < 0.18:
                return self.names.person(self.r), 3
            seq = t.people
        else:
            seq = t.nouns if rnd() < 0.7 else self.nouns
        sg, pl = seq[int(rnd() * len(seq))]
        x = rnd()
        word = pl if x < 0.4 else sg
        if rnd() < 0.45:
            adjs = t.adjs if rnd() < 0.45 else self.adjs
            word = f"{adjs[int(rnd() * len(adjs))]} {word}"
        if x < 0.4:
            det = PL_DETS[int(rnd() * len(PL_DETS))]
            return (f"{det} {word}" if det else word), 0
        det = SG_DETS[int(rnd() * len(SG_DETS))]
        return f"{article_for(word) if det == 'a' else det} {word}", 3

    def subject(self) -> tuple[str, int]:
        x = self.r.random()
        if x < 0.15:
            return PRONOUNS[int(x * 53.3)]  # x < 0.15 maps onto the 8 pronouns
        return self.np(person=x < 0.6)

    def pp(self) -> str:
        rnd = self.r.random
        if rnd() < 0.4:
            return TIMES[int(rnd() * len(TIMES))]
        return f"{PREPS[int(rnd() * len(PREPS))]} {self.np()[0]}"

    def verb(self, forms: tuple[str, ...], agr: int, tense: str | None = None) -> str:
        rnd = self.r.random
        tense = tense or TENSES[int(rnd() * len(TENSES))]
        base, s3, past, part, ing = forms
        if tense == "pres":
            return s3 if agr == 3 else base
        if tense == "past":
            return past
        if tense == "perf":
            return ("has " if agr == 3 else "have ") + part
        if tense == "fut":
            return "will " + base
        if tense == "modal":
            return MODALS[int(rnd() * len(MODALS))] + " " + base
        if tense == "prog":
            return ("is " if agr == 3 else "am " if agr == 1 else "are ") + ing
        if rnd() < 0.5:
            return "did not " + base
        return ("does not " if agr == 3 else "do not ") + base

    def vp(self, agr: int, tense: str | None = None) -> str:
        rnd = self.r.random
        if rnd() < 0.2:
            forms = self.intrans[int(rnd() * len(self.intrans))]
            return f"{self.verb(forms, agr, tense)} {self.pp()}"
        seq = self.t.verbs if rnd() < 0.65 else self.verbs
        out = f"{self.verb(seq[int(rnd() * len(seq))], agr, tense)} {self.np()[0]}"
        return f"{out} {self.pp()}" if rnd() < 0.45 else out

    def clause(self, tense: str | None = None) -> str:
        subj, agr = self.subject()
        if self.r.random() < 0.15:
            return f"{subj} {self.pick(self.advs)} {self.vp(agr, 'past')}"
        return f"{subj} {self.vp(agr, tense)}"

    # -- sentence templates (no final punctuation unless a question) ---------------------
    def s_simple(self) -> str:
        return self.clause()

    def s_relative(self) -> str:
        subj, agr = self.np(person=True)
        if subj[0].isupper():
            return f"{subj}, who {self.vp(agr, 'past')}, {self.vp(agr, 'pres')}"
        rel = "who" if self.r.random() < 0.7 else "that"
        return f"{subj} {rel} {self.vp(agr, 'past')} {self.vp(agr, 'pres')}"

    def s_compound(self) -> str:
        conj = self.pick(("and", "but", "so", "yet", "while"))
        return f"{self.clause()}, {conj} {self.clause()}"

    def s_subord(self) -> str:
        sub = self.pick(("Because", "Although", "When", "While", "After", "Before", "If",
                             "Once", "Since", "Unless"))
        return f"{sub} {self.clause()}, {self.clause()}"

    def s_question(self) -> str:
        subj, agr = self.np(person=True)
        sg, pl = self.noun()
        base, _, _, part, ing = self.pick(self.t.verbs)
        k = self.num(0, 4)
        if k == 0:
            aux = "does" if agr == 3 else "do"
            return f"{self.pick(('Why', 'How', 'When'))} {aux} {subj} {base} the {pl}?"
        if k == 1:
            return f"Have you ever {part} {article_for(sg)} {sg} {self.pp()}?"
        if k == 2:
            return f"What makes the {sg} so {self.adj()}?"
        if k == 3:
            return f"Is the {sg} really worth the {self.pick(('price', 'effort', 'wait', 'hype'))}?"
        return f"How {self.pick(MODALS)} {subj} {base} {self.np()[0]} without {ing} it?"

    def s_quote(self) -> str:
        r = self.r
        name, job = self.names.person(r), self.pick(self.names.jobs)
        who = f"{article_for(job)} {job} at {self.pick(self.names.companies)}"
        c = self.clause()
        if r.random() < 0.5:
            said = self.pick(("said", "explained", "added", "noted", "admitted"))
            return f'"{c[0].upper()}{c[1:]}," {said} {name}, {who}'
        return f"According to {name}, {who}, {c}"

    def s_number(self) -> str:
        # Years, prices, versions and counts: look-alikes a PII redactor must leave alone.
        sg, pl = self.noun()
        k = self.num(0, 5)
        if k == 0:
            return f"About {self.num(5, 95)} percent of {pl} {self.vp(0, 'pres')}"
        if k == 1:
            price = f"${self.num(2, 400)}.{self.pick(('99', '95', '49', '00', '50'))}"
            return f"The {sg} costs {price} at {self.pick(self.names.companies)}"
        if k == 2:
            return f"In {self.num(1950, 2024)}, {self.clause('past')}"
        if k == 3:
            n, city = f"{self.num(1, 40)},{self.num(0, 999):03d}", self.pick(self.names.cities)
            return f"More than {n} people visited {city} in {self.num(1990, 2024)}"
        if k == 4:
            ver = f"{self.num(1, 9)}.{self.num(0, 20)}.{self.num(0, 9)}"
            app = self.pick(self.names.companies)
            return f"Version {ver} of the {app} app {self.vp(3, 'pres')}"
        qty = self.pick(("grams", "minutes", "hours", "miles", "kilometers", "pounds", "days"))
        return f"It takes about {self.num(2, 250)} {qty} to {self.pick(self.t.verbs)[0]} the {sg}"

    def s_predicate(self) -> str:
        subj, agr = self.np()
        r = self.r
        be = ("is" if agr == 3 else "are") if r.random() < 0.5 else ("was" if agr == 3 else "were")
        more = self.pick(("and", "but rarely", "and surprisingly", "yet", "and always"))
        return f"{subj} {be} {self.adj()} {more} {self.adj()}"

    def s_imperative(self) -> str:
        lead = self.pick(("Try to", "Remember to", "Never", "Always", "Do not forget to",
                         "Be sure to"))
        v1, v2 = self.pick(self.t.verbs)[0], self.pick(self.t.verbs)[0]
        return f"{lead} {v1} {self.np()[0]} before you {v2} {self.np()[0]}"

    def s_there(self) -> str:
        sg, pl = self.noun()
        if self.r.random() < 0.5:
            return f"There are {self.num(2, 60)} {self.adj()} {pl} {self.pp()}"
        verb = self.pick(self.t.verbs)[0]
        return f"There is no {self.adj()} way to {verb} {article_for(sg)} {sg}"

    def s_abstract(self) -> str:
        a = self.pick(self.x_nouns)
        k = self.num(0, 2)
        if k == 0:
            return f"The {a} of {self.np()[0]} {self.pick(('is', 'was', 'seems'))} {self.adj()}"
        if k == 1:
            subj, agr = self.subject()
            return f"{subj} {self.verb(self.pick(self.verbs), agr)} the {a} of {self.np()[0]}"
        return f"{self.clause('past')} with {self.pick(self.x_advs)} {self.adj()} {a}"

    def s_date(self) -> str:
        r = self.r
        if r.random() < 0.5:
            when = f"On {self.pick(MONTHS)} {self.num(1, 28)}, {self.num(2001, 2024)}"
        else:
            when = f"Last {self.pick(DAYS)} in {self.pick(self.names.cities)}"
        return f"{when}, {self.clause('past')}"

    # -- pages ---------------------------------------------------------------------------
    def sentence(self) -> str:
        r = self.r
        s = self.templates[bisect(self._tw, r.random() * self._tw[-1])]()
        if s[0].islower() and r.random() < 0.1:
            s = f"{self.pick(CONNECTORS)} {s}"
        return s if s[-1] == "?" else f"{s[0].upper()}{s[1:]}."

    def title(self) -> str:
        r = self.r
        sg, pl = self.noun()
        k = self.num(0, 4)
        if k == 0:
            t = f"how to {self.pick(self.t.verbs)[0]} the {self.adj()} {sg}"
        elif k == 1:
            t = f"{self.num(3, 15)} {self.adj()} {pl} for {self.t.name} fans"
        elif k == 2:
            t = f"why {pl} matter more than you think"
        elif k == 3:
            t = f"{self.names.person(r)} on {self.adj()} {pl}"
        else:
            t = f"the {self.adj()} guide to {self.t.name}"
        return title_case(t)

    def article(self, rng: random.Random, topic: str, length: float = 1.0
                ) -> tuple[str, list[str]]:
        """A normal page: 3-12 paragraphs of 2-7 sentences; one in ten is a long read.
        ``length`` scales the number of paragraphs (at least one)."""
        self.use(rng, topic)
        sent = self.sentence
        long_read = rng.random() < 0.1
        (plo, phi), (slo, shi) = ((8, 14), (4, 8)) if long_read else ((3, 12), (2, 7))
        n = max(1, round(self.num(plo, phi) * length))
        paras = [" ".join([sent() for _ in range(self.num(slo, shi))]) for _ in range(n)]
        return self.title(), paras


@lru_cache(maxsize=4)
def english(seed: int) -> English:
    """A shared grammar per seed: building the Faker pools and word lists takes ~0.5 s."""
    return English(seed)
