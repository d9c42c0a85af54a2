"""supernet: search-space primitives and built-in spaces for one-shot, weight-sharing NAS.

Imports torch only. A search space is an ordinary ``nn.Module`` with `LayerChoice` and `InputChoice`
inside; `decisions` describes it as plain data, `activate` makes it run one architecture, and
`freeze` builds the standalone child network. `activate_weighted` / `activate_sampled` relax the
choices for differentiable search (DARTS, GDAS).
"""
from ._registry import create_space, list_spaces, register_space, space_kwargs
from .choices import ChosenInputs, InputChoice, LayerChoice, chosen_module
from .ops import OPS, is_zero
from .space import (
    ArchitectureError, Decision, activate, architecture_key, choices_of, count_architectures, decisions, load_architecture,
    random_architecture, save_architecture, validate_architecture,
)
from .standalone import count_parameters, freeze, inherit, use_running_stats
from .few_shot import FewShotSupernet
from .weighted import activate_sampled, activate_weighted, check_relaxable
from . import spaces  # noqa: E402,F401  (registers the built-in spaces, as timm's models package does)
from .spaces.nb201 import from_nb201_string, to_nb201_string  # noqa: E402

__all__ = [
    "LayerChoice", "InputChoice", "ChosenInputs", "chosen_module", "Decision", "ArchitectureError",
    "decisions", "activate", "architecture_key", "validate_architecture", "random_architecture", "count_architectures",
    "save_architecture", "load_architecture", "choices_of", "freeze", "use_running_stats", "count_parameters",
    "register_space", "create_space", "list_spaces", "space_kwargs", "OPS", "is_zero",
    "to_nb201_string", "from_nb201_string", "activate_weighted", "activate_sampled", "check_relaxable",
    "FewShotSupernet", "inherit",
]
