"""The sample crawl's web: a few hundred sites per topic and the URLs minted on them.

This module owns the sites (host and display name, :func:`etl.sample.pages.make_sites`) and
URL numbering: documents get the serial ``10_000 + i``; every other record (redirects, 404s,
images, corrupt records) takes the next serial after the last document's, so no two URLs
collide. All draws come from the crawl's shared ``random.Random``, in call order.

Example::

    >>> import random
    >>> from etl.sample.sites import TOPIC_NAMES, Sites
    >>> from etl.sample.text import english
    >>> sites = Sites(random.Random(1), english(1), serial=10_040)
    >>> url, site = sites.extra_url(TOPIC_NAMES[0], path="/missing/{n}.html")
    >>> url.endswith("/missing/10041.html"), sites.serial
    (True, 10041)
"""

from __future__ import annotations

import random

from etl.sample import pages as pg
from etl.sample.text import TOPICS

TOPIC_NAMES = tuple(TOPICS)
SITES_PER_TOPIC = 250


class Sites:
    """Sites per topic (drawn at construction) and the URLs of pages on them."""

    def __init__(self, r: random.Random, eng, serial: int):
        self.r, self.serial = r, serial
        self.by_topic = {t: pg.make_sites(r, [w for sg, _ in eng.topics[t].nouns
                                              for w in sg.split()] + eng.topics[t].adjs,
                                          eng.names.cities, SITES_PER_TOPIC)
                         for t in TOPIC_NAMES}

    def page_url(self, n: int, title: str, topic: str) -> tuple[str, str]:
        """(url, site name) of document page number ``n``; mostly https."""
        r = self.r
        host, site = r.choice(self.by_topic[topic])
        scheme = "https" if r.random() < 0.9 else "http"
        return f"{scheme}://{host}{pg.make_path(r, n, title, topic)}", site

    def extra_url(self, topic: str, title: str = "", path: str = "") -> tuple[str, str]:
        """(url, site) for a non-document record; its serial never collides with a document's.

        ``path`` may hold ``{n}`` for the serial; without it a realistic article path is made.
        """
        self.serial += 1
        path = path or pg.make_path(self.r, self.serial, title, topic)
        host, site = self.r.choice(self.by_topic[topic])
        return f"https://{host}{path.format(n=self.serial)}", site
