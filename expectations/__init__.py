"""Great Expectations suites, one per lake table, each in GX's own JSON serialization.

A package only so that the suites ship in the wheel and load through ``importlib.resources``
(``etl/validate/suites.py`` maps each table to its file here); there is no code.
"""
