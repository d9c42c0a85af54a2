"""enas: the ENAS controller, REINFORCE, the alternating search loop, derive and retrain.

Works from a space's decision list alone (`supernet.decisions`), so any supernet written with
`supernet.LayerChoice` / `supernet.InputChoice` can be searched. The command line is in `enas.cli`.
"""
from .api import SimpleTask, search_model
from .controller import Controller, Samples
from .derive import derive, describe_architecture
from .reinforce import EMABaseline, controller_step, reinforce_loss
from .strategy import ENASStrategy, RandomStrategy, create_strategy
from .training import shared_weights_step, train_epoch

__all__ = [
    "Controller", "Samples", "EMABaseline", "controller_step", "reinforce_loss", "ENASStrategy", "RandomStrategy",
    "create_strategy", "derive", "describe_architecture", "shared_weights_step", "train_epoch", "SimpleTask",
    "search_model",
]
