"""What each sample document is: its format, text, planted defects, URL and fetch time.

This module owns the document-level randomness. :class:`Documents` picks the next format
(in proportion to what each format still has to get), decides whether the document is an
exact or near duplicate of an earlier original or a fresh page, which content defect it
carries (spam, repeated lines, short, foreign), and plants accented text, wrong or missing
charsets and PII (with exact character spans). It keeps a bounded ring of the last
``RESERVOIR`` clean English originals as duplicate sources. Probabilities come from
:mod:`etl.sample.plan`, the page text from :mod:`etl.sample.pages` and
:mod:`etl.sample.text`; :mod:`etl.sample.writer` stores the result.

Example::

    >>> import random
    >>> from llmlake.config import SampleConfig
    >>> from etl.sample.documents import Documents
    >>> from etl.sample.plan import make_plan
    >>> from etl.sample.sites import Sites
    >>> from etl.sample.text import english
    >>> cfg = SampleConfig(docs=10, seed=1)
    >>> r, eng = random.Random(cfg.seed), english(cfg.seed)
    >>> docs = Documents(cfg, make_plan(cfg), r, eng, Sites(r, eng, 10_000 + cfg.docs))
    >>> doc = docs.next(0)
    >>> doc.id, doc.fmt in ("warc", "wet", "jsonl", "parquet"), doc.text == "\\n".join(doc.paras)
    ('sample-1-00000000', True, True)
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from etl.sample import pages as pg
from etl.sample.plan import CONTENT_DEFECTS, FORMATS, Plan
from etl.sample.sites import TOPIC_NAMES, Sites
from llmlake.config import SampleConfig

RESERVOIR = 2000
EPOCH = 1_700_000_000  # 2023-11-14T22:13:20Z; fetch times move forward from here
FOREIGN = ("de", "fr", "es", "it", "pt", "nl")
_MARK = re.compile("\x00(\\d+)\x00")


@dataclass(slots=True)
class Doc:
    i: int
    fmt: str
    topic: str
    title: str
    paras: list[str]
    lang: str = "en"
    defects: list[str] = field(default_factory=list)
    pii: list[dict] = field(default_factory=list)
    cluster: int = -1
    dup_kind: str | None = None
    dup_of: str | None = None
    charset: str = "utf-8"
    url: str = ""
    site: str = ""
    text: str = ""
    fetched: int = 0
    id: str = ""  # the record id JSONL and Parquet store


def place_pii(doc: Doc) -> None:
    """Join the paragraphs into ``doc.text``, turning ``\\x00k\\x00`` markers into PII values.

    Each ``doc.pii`` item gets the ``start``/``end`` character span of its value in the text.

    >>> doc = Doc(0, "wet", "t", "T", ["Mail \\x000\\x00 now."], pii=[{"type": "email",
    ...           "value": "a@b.io"}])
    >>> place_pii(doc)
    >>> doc.text, doc.pii
    ('Mail a@b.io now.', [{'type': 'email', 'value': 'a@b.io', 'start': 5, 'end': 11}])
    """
    text = "\n".join(doc.paras)
    if doc.pii:
        values, doc.pii, parts, pos, n = doc.pii, [], [], 0, 0
        for m in _MARK.finditer(text):
            parts.append(text[pos:m.start()])
            n += m.start() - pos
            item = values[int(m.group(1))]
            doc.pii.append({**item, "start": n, "end": n + len(item["value"])})
            parts.append(item["value"])
            n, pos = n + len(item["value"]), m.end()
        text = "".join([*parts, text[pos:]])
        doc.paras = text.split("\n")
    doc.text = text


class Documents:
    """Draws the crawl's documents in order; ``next(i)`` makes document ``i``."""

    def __init__(self, cfg: SampleConfig, plan: Plan, r: random.Random, eng, sites: Sites):
        self.seed, self.rates, self.r, self.eng, self.sites = cfg.seed, plan.rates, r, eng, sites
        # A batch of another topic mix or length profile (drift tests, demo batches); the
        # defaults draw exactly as before, so the sample corpus does not change.
        unknown = [t for t in cfg.topics if t not in TOPIC_NAMES]
        if unknown:
            raise ValueError(f"sample.topics: unknown {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(TOPIC_NAMES)}")
        self.topics = tuple(cfg.topics) or TOPIC_NAMES
        self.length = cfg.length
        self.names = eng.names
        self.remaining = dict(plan.counts)  # documents each format still has to get
        self.reservoir: list[tuple] = []  # ring of the last RESERVOIR originals
        self.kept = 0
        self.clock = EPOCH
        if cfg.foreign_rate > 0:
            for lang in FOREIGN:  # load word lists up front, not in the middle of the loop
                pg.foreign_lexicon(lang)

    def next(self, i: int) -> Doc:
        return self.make_doc(i, self.pick_format())

    def pick_format(self) -> str:
        x = self.r.random() * sum(self.remaining.values())
        for f in FORMATS:
            x -= self.remaining[f]
            if x < 0 and self.remaining[f]:
                break
        else:
            f = next(f for f in FORMATS if self.remaining[f])
        self.remaining[f] -= 1
        return f

    def make_doc(self, i: int, fmt: str) -> Doc:
        r = self.r
        u = r.random()
        if self.reservoir and u < self.rates.p_dup:
            doc = self.dup_doc(i, fmt, exact=u < self.rates.p_exact)
        else:
            doc = self.fresh_doc(i, fmt)
        if fmt == "warc" and r.random() < self.rates.p_broken:
            doc.defects.append("broken_html")
        place_pii(doc)
        doc.url, doc.site = self.sites.page_url(10_000 + i, doc.title, doc.topic)
        self.clock += r.randint(1, 60)
        doc.fetched = self.clock
        doc.id = f"sample-{self.seed}-{i:08d}"
        return doc

    def fresh_doc(self, i: int, fmt: str) -> Doc:
        r, eng = self.r, self.eng
        topic, u, content = r.choice(self.topics), r.random(), None
        for name, p in self.rates.p_content:
            u -= p
            if u < 0:
                content = name
                break
        lang = r.choice(FOREIGN) if content == "foreign" else "en"
        if content == "spam":
            title, paras = pg.spam_page(r, self.names.cities)
        elif content == "repeated":
            title, paras = pg.repeated_page(eng, r, topic)
        elif content == "short":
            title, paras = pg.short_page(eng, r, topic)
        elif content == "foreign":
            title, paras = pg.foreign_page(r, lang)
        else:
            title, paras = eng.article(r, topic, self.length)
        doc = Doc(i, fmt, topic, title, paras, lang, [content] if content else [], cluster=i)
        if fmt == "warc" and content in (None, "foreign") and r.random() < self.rates.p_charset:
            self.add_charset(doc)
        elif content is None and r.random() < 0.03:
            self.add_accented(doc)
        if content is None and r.random() < self.rates.p_pii:
            self.add_pii(doc)
        return doc

    def dup_doc(self, i: int, fmt: str, exact: bool) -> Doc:
        oi, url, topic, title, paras = self.r.choice(self.reservoir)
        if not exact:
            paras = pg.near_dup(self.eng, self.r, topic, paras)
        return Doc(i, fmt, topic, title, list(paras), cluster=oi,
                   dup_kind="exact" if exact else "near", dup_of=url)

    def add_accented(self, doc: Doc) -> None:
        j = self.r.randrange(len(doc.paras))
        doc.paras[j] += " " + pg.accented_sentence(self.r, self.names.person(self.r),
                                                   self.r.choice(self.names.cities))

    def add_charset(self, doc: Doc) -> None:
        r = self.r
        kind = r.choice(("wrong_charset", "missing_charset"))
        if doc.lang == "en" or all(p.isascii() for p in doc.paras):
            # Without non-ASCII characters a wrong charset would change nothing.
            self.add_accented(doc)
        charset = "cp1252" if kind == "wrong_charset" or r.random() < 0.5 else "utf-8"
        try:
            (doc.title + "\n".join(doc.paras)).encode(charset)
        except UnicodeEncodeError:
            return
        doc.charset = charset
        doc.defects.append(kind)

    def add_pii(self, doc: Doc) -> None:
        """Insert 1-3 PII sentences; ``\\x00k\\x00`` markers become spans in ``place_pii``."""
        for k in range(self.r.randint(1, 3)):
            sent, kind, value = pg.pii_sentence(self.r, self.names.person(self.r),
                                                self.r.choice(self.names.companies))
            doc.pii.append({"type": kind, "value": value})
            j = self.r.randrange(len(doc.paras))
            doc.paras[j] += " " + sent.replace("{v}", f"\x00{k}\x00")
        doc.defects.append("pii")

    def remember(self, doc: Doc) -> None:
        """Keep clean English originals (bounded ring) as sources for later duplicates."""
        if doc.dup_kind or doc.pii or doc.lang != "en" or set(doc.defects) & {*CONTENT_DEFECTS}:
            return
        if len(doc.text.split()) < 80:
            return
        item = (doc.i, doc.url, doc.topic, doc.title, tuple(doc.paras))  # ~3 KB
        if len(self.reservoir) < RESERVOIR:
            self.reservoir.append(item)
        else:
            self.reservoir[self.kept % RESERVOIR] = item
        self.kept += 1

    def related(self) -> list[str]:
        """Titles a WARC page links as related: the last three slots of the ring."""
        return [x[3] for x in self.reservoir[-3:]]
