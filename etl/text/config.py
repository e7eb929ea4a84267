"""The cleaning pipeline's configuration, re-exported where the filters live.

The schema itself is in :mod:`llmlake.config_clean` (``llmlake`` owns params loading);
``etl.text.config.CleanConfig`` is the same class.

Example::

    >>> from etl.text.config import CleanConfig
    >>> CleanConfig().min_lang_score
    0.65
"""

from llmlake.config_clean import CleanConfig

__all__ = ["CleanConfig"]
