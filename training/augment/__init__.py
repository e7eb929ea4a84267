"""``llmlake augment``: seeded, tagged, capped variants of a fine-tuning set or small corpus.

EDA's four word edits (:mod:`.eda`) with a synonym table mined from the model or the
corpus, or read from a file (:mod:`.synonyms`), and paraphrases sampled from the model
(:mod:`.paraphrase`); :mod:`.rows` reads and writes the rows, :mod:`.variants` makes,
tags and caps the variants, :mod:`.stage` wires them to params and the report.
"""
