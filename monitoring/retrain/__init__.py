"""``llmlake retrain``: a drift verdict acted on. ``batches.py`` makes the drifted batch a
DVC-tracked data source and points ``params.yaml`` at it and at the champion; ``history.py``
decides whether to retrain and keeps ``reports/retrain_history.jsonl``; ``stage.py`` runs
``dvc repro`` and records what came of it."""
