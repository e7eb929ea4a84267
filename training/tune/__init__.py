"""Hyperparameter search: Ray Tune over the training function (grid or Optuna TPE, ASHA)."""
