"""enas: the ENAS controller, REINFORCE, the alternating search loop, derive and retrain.

Works from a space's decision list alone (`supernet.decisions`), so any supernet written with
`supernet.LayerChoice` / `supernet.InputChoice` can be searched. The command line is in `enas.cli`.

The public names load on first use (PEP 562): importing the package imports none of its modules, so
``python -m enas.search`` runs ``enas.search`` once, as ``__main__``, instead of after the package had
already imported it (runpy's "found in sys.modules" RuntimeWarning).
"""
from importlib import import_module

_PUBLIC = {
    "SimpleTask": "api", "search_model": "api",
    "Controller": "policies.base", "Samples": "policies.base", "DecisionPolicy": "policies.base",
    "TransformerController": "policies.transformer",
    "derive": "search.derive", "describe_architecture": "search.derive",
    "EMABaseline": "policies.reinforce", "controller_step": "policies.reinforce", "reinforce_loss": "policies.reinforce",
    "ENASStrategy": "strategies.base", "RandomStrategy": "strategies.base", "create_strategy": "strategies.base",
    "RegularizedEvolution": "strategies.regularized_evolution", "EvolutionStrategy": "strategies.evolution",
    "DARTSStrategy": "strategies.differentiable", "GDASStrategy": "strategies.differentiable",
    "shared_weights_step": "search.training", "train_epoch": "search.training",
}

__all__ = [
    "Controller", "Samples", "DecisionPolicy", "TransformerController", "EMABaseline", "controller_step", "reinforce_loss", "ENASStrategy", "RandomStrategy",
    "create_strategy", "derive", "describe_architecture", "shared_weights_step", "train_epoch", "SimpleTask",
    "search_model", "RegularizedEvolution", "EvolutionStrategy", "DARTSStrategy", "GDASStrategy",
]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'enas' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
