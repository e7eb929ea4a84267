"""Monitoring and maintenance: is the served model still fit for the data, and if not, a
fresher one.

* ``descriptors.py``: what is measured of a text (statistics, language, the champion's
  perplexity and embeddings);
* ``monitor/``: the ``monitor`` stage, the Evidently report and the drift verdict;
* ``retrain/``: ``llmlake retrain``, drift -> a DVC-tracked batch -> ``dvc repro`` -> the gate;
* ``feedback/``: ``llmlake feedback``, ratings of served requests -> fine-tuning and eval sets.
"""
