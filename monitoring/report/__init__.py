"""``llmlake report``: ``reports/index.html``, the whole pipeline on one static page.

* ``inputs.py``: reads every stage's report from the reports folder, once;
* ``data_sections.py``: the data sections (funnel, data quality, tokenizer, training curves);
* ``model_sections.py``: the model sections (evaluation and bias, promotion, ablation, drift, links);
* ``charts.py``: line-chart geometry for the loss curves (drawn as inline SVG);
* ``page.py``: the sections in page order, rendered; ``stage.py``: the stage.
"""
