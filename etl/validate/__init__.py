"""The ``validate`` stage: one Great Expectations suite per lake table.

``stage.py`` validates a table and writes its report and data docs; ``suites`` is the
registry of tables, suite files (``expectations/``) and suite parameters.
"""
