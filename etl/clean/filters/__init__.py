"""Document quality filters of the clean stage and their packaged word and domain lists.

Each filter module is a frozen config (in :mod:`llmlake.config_clean`), a ``*_signals``
function that measures a document and a ``*_reason`` function that turns the figures into
a drop reason (or None): :mod:`~etl.clean.filters.url`, :mod:`~etl.clean.filters.gopher`,
:mod:`~etl.clean.filters.c4`, :mod:`~etl.clean.filters.fineweb`. :mod:`~etl.clean.filters.lists`
reads the list files under ``data/``.
"""
