"""The ``clean`` stage: bronze documents to silver (extraction, language, quality, PII).

``stage.py`` is the Spark job; the other modules are its pure, Spark-free core, which
serving and monitoring may import on their own (this package imports nothing, so
``etl.clean.pii`` loads without the extraction or language libraries):

* :mod:`etl.clean.extract` - HTML main-content extraction (Resiliparse), plain text as is;
* :mod:`etl.clean.normalize` - ftfy repair, control characters, whitespace, NFC (idempotent);
* :mod:`etl.clean.langid` - fastText lid.176 language ID, one model per process;
* :mod:`etl.clean.words` and :mod:`etl.clean.stats` - words, sentences and
  :class:`~etl.clean.stats.TextStats`, the lines/paragraphs/words the filters share;
* :mod:`etl.clean.filters` - the URL, Gopher, C4 and FineWeb filters, each a frozen
  config, a signals function and a reason function, and their packaged word lists;
* :mod:`etl.clean.pii` - e-mail, IP, phone and card redaction;
* :mod:`etl.clean.document` - :func:`~etl.clean.document.clean_document`, which chains
  them all for one document.

Example::

    >>> from etl.clean.document import CleanConfig, clean_document
    >>> page = "<p>This page is far too short to be a useful training document.</p>"
    >>> r = clean_document(page, "text/html", "https://a.example/", CleanConfig())
    >>> r.kept, r.lang, r.drop_reason
    (False, 'en', 'gopher_short_doc')
"""
