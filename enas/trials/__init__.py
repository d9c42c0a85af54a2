"""Multi-trial search: each proposed child trained on its own, many at once on Ray workers (``mode=multi_trial``).

`multi_trial_search(cfg)` runs one from a config; `MultiTrialSearch` is the loop, `TrialRunner` a worker's
trainer, `Rungs` early stopping (ASHA), `TrialsFile` the run's ``trials.jsonl``.
"""
from .child import TrialRunner
from .engines import LocalEngine, RayEngine, create_engine, ray_available
from .records import TrialsFile
from .rungs import Rungs
from .search import MultiTrialSearch, multi_trial_problems, multi_trial_search

__all__ = ["TrialRunner", "LocalEngine", "RayEngine", "create_engine", "ray_available", "TrialsFile", "Rungs",
           "MultiTrialSearch", "multi_trial_problems", "multi_trial_search"]
