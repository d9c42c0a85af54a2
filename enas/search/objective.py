"""The one number a search returns to a Hydra sweeper (``objective=`` in the search config).

Hydra's objective-driven sweepers (Optuna, Nevergrad, Ax) read the value the task function returns;
``enas-search`` returns this one, so ``hydra/sweeper=optuna`` tunes a search's settings:

* ``derive_score``: the derived architecture's score with the shared weights (validation accuracy,
  or 80 / perplexity for language models): what the search itself can see;
* ``benchmark_acc``: its NAS-Bench-201 CIFAR-10 test accuracy (needs ``benchmark=nb201``): what a
  benchmark study should tune for, never available for a real task.

Both are to be maximised: set ``hydra.sweeper.direction=maximize`` (Optuna minimises by default).
"""
from __future__ import annotations

import math
from typing import Dict

__all__ = ["RESULT_KEYS", "objective_value"]

RESULT_KEYS = {"derive_score": "derive_score", "benchmark_acc": "benchmark_cifar10_test_acc"}  # per config.OBJECTIVES


def objective_value(cfg, result: Dict) -> float:
    """``cfg.objective`` of a finished search's result; NaN on a torchrun rank that derived nothing."""
    name = cfg.objective
    if not result:  # ranks other than 0 under torchrun: rank 0 derives and reports
        return math.nan
    key = RESULT_KEYS[name]
    if key not in result:
        raise ValueError(f"objective={name} but the search's result has no {key} (benchmark_acc needs "
                         "benchmark=nb201 in the search config)")
    return float(result[key])
