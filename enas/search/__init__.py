"""The search itself: the one loop, the one builder, training steps, derive, retrain, short training.

`search(cfg)` runs a search from a config; `build_search` assembles one (`Search`), `run_search` runs it;
`load_search` rebuilds a finished or killed one from its checkpoint; `retrain` trains a derived child.
"""
from .build import Search, build_search, build_short_train, build_supernet
from .constraints import Constraint
from .latency import LatencyTable, measure_latency
from .derive import derive, derive_checkpoint, run_derive
from .loop import run_search, search, search_epoch
from .retrain import retrain
from .short_train import SuccessiveHalving, halve
from .state import load_search
from .summary import describe_architecture, write_architecture
from .training import make_optimizer, make_scheduler, shared_weights_step, train_epoch

__all__ = ["Search", "build_search", "build_short_train", "build_supernet", "Constraint", "LatencyTable",
           "measure_latency", "derive",
           "derive_checkpoint", "run_derive", "run_search", "search", "search_epoch", "retrain", "SuccessiveHalving",
           "halve", "load_search", "describe_architecture", "write_architecture", "make_optimizer", "make_scheduler",
           "shared_weights_step", "train_epoch"]
