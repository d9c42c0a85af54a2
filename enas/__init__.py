"""enas: one-shot, weight-sharing architecture search over any `supernet` space, and everything around it.

Works from a space's decision list alone (`supernet.decisions`), so any supernet written with
`supernet.LayerChoice` / `supernet.InputChoice` can be searched. The rooms, bottom up: `config` (schemas, the
one source of every default, and their checks), `data`, `runs` (folders, locks, checkpoints, processes),
`predictors`, `policies` (controllers and their update rules); `tasks`, `strategies`, `report`; `search` (the
loop, the one assembler, derive, retrain); `trials` (multi-trial search: each child trained, on Ray workers);
and on top `cli` (the commands) and `api` (`search_model`).

The public names load on first use (PEP 562): importing the package imports none of its modules, so
``python -m enas search`` runs ``enas/__main__.py`` without importing every module first, and a script that
imports one sub-package pays for that one only.
"""
from importlib import import_module

_PUBLIC = {
    "SimpleTask": "tasks", "Task": "tasks", "search_model": "api",
    "Controller": "policies", "Samples": "policies", "DecisionPolicy": "policies", "TransformerController": "policies",
    "EMABaseline": "policies", "controller_step": "policies", "reinforce_loss": "policies",
    "Strategy": "strategies", "ENASStrategy": "strategies", "RandomStrategy": "strategies",
    "create_strategy": "strategies", "RegularizedEvolution": "strategies", "EvolutionStrategy": "strategies",
    "DARTSStrategy": "strategies", "GDASStrategy": "strategies",
    "derive": "search", "describe_architecture": "search", "shared_weights_step": "search",
    "train_epoch": "search", "multi_trial_search": "trials", "MultiTrialSearch": "trials",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'enas' has no attribute {name!r}")
    value = getattr(import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
