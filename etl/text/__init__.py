"""Pure (Spark-free) text cleaning: raw web payload in, clean text plus quality signals out.

This package owns the per-document cleaning core that the Spark job maps over documents:

* :mod:`etl.text.extract` - HTML main-content extraction (Resiliparse), plain text as is;
* :mod:`etl.text.normalize` - ftfy repair, control characters, whitespace, NFC (idempotent);
* :mod:`etl.text.langid` - fastText lid.176 language ID, one model per process;
* :mod:`etl.text.stats` - :class:`TextStats`, the lines/paragraphs/words shared by filters;
* :mod:`etl.text.urlfilter`, :mod:`etl.text.gopher`, :mod:`etl.text.c4`,
  :mod:`etl.text.fineweb` - the filters, each a frozen config, a signals function and a
  reason function;
* :mod:`etl.text.pii` - e-mail, IP, phone and card redaction;
* :mod:`etl.text.config` / :mod:`etl.text.pipeline` - :class:`CleanConfig` and
  :func:`clean_document`, which chains them all.

The functions ``extract`` and ``normalize`` are not re-exported here: they share their
modules' names, and a package attribute would shadow the module.

Example::

    >>> from etl.text import CleanConfig, clean_document
    >>> page = "<p>This page is far too short to be a useful training document.</p>"
    >>> r = clean_document(page, "text/html", "https://a.example/", CleanConfig())
    >>> r.kept, r.lang, r.drop_reason
    (False, 'en', 'gopher_short_doc')
"""

from etl.text.config import CleanConfig
from etl.text.langid import detect_language
from etl.text.pii import redact_pii
from etl.text.pipeline import DROP_REASONS, SIGNAL_NAMES, CleanResult, clean_document
from etl.text.stats import TextStats

__all__ = [
    "DROP_REASONS",
    "SIGNAL_NAMES",
    "CleanConfig",
    "CleanResult",
    "TextStats",
    "clean_document",
    "detect_language",
    "redact_pii",
]
