"""Ranges and relations of config values, checked before anything runs.

`check_config` (enas.config) rejects unknown keys and Hydra rejects wrong types; this module rejects
values of the right type that cannot work (``trainer.lr=0``, ``data.batch_size=-1``,
``controller.screen_keep`` above ``num_aggregate`` ...), naming the key, the value and what it must be.
Spaces check their own arguments when built (`supernet.spaces`), and resume compares the stored
configuration with this one (`config_differences`).
"""
from __future__ import annotations

import math
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Tuple

from omegaconf import DictConfig, OmegaConf

from .methods import ENGINES
from .schema import (MODES, ALGORITHMS, AMP_MODES, CONTROLLER_KINDS, DATA_SOURCES, DATA_SPLITS, OBJECTIVES, OPTIMIZERS,
                     REGULARISERS, REWARDS, SCHEDULES, SHARED_SAMPLING)

__all__ = ["check_config", "validate_values", "config_differences", "RESUME_MAY_CHANGE"]

Rule = Tuple[str, Callable[[Any], bool], str]


def _at_least(n):
    return lambda v: v >= n, f">= {n}"


def _positive():
    return lambda v: v > 0 and math.isfinite(v), "> 0"


def _fraction(closed_right: bool = False):
    return (lambda v: 0 <= v <= 1) if closed_right else (lambda v: 0 <= v < 1), "in [0, 1]" if closed_right else "in [0, 1)"


def _one_of(*names):
    return lambda v: v in names, f"one of {', '.join(names)}"


def _optional(check):
    fn, text = check
    return lambda v: v is None or fn(v), f"{text} or null"


RULES: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "trainer.epochs": _at_least(0), "trainer.lr": _positive(), "trainer.lr_min": _at_least(0),
    "trainer.t0": _optional(_at_least(1)), "trainer.t_mult": _at_least(1), "trainer.decay_start": _at_least(0),
    "trainer.decay_rate": ((lambda v: 0 < v <= 1), "in (0, 1]"), "trainer.momentum": _fraction(),
    "trainer.weight_decay": _at_least(0), "trainer.grad_clip": _at_least(0), "trainer.aux_weight": _at_least(0),
    "trainer.drop_path_prob": _fraction(), "trainer.warmup_epochs": _at_least(0),
    "trainer.max_steps_per_epoch": _optional(_at_least(1)), "trainer.log_every": _at_least(1),
    "trainer.early_stop": _at_least(0), "trainer.schedule": _one_of(*SCHEDULES),
    "trainer.optimizer": _one_of(*OPTIMIZERS), "trainer.amp": _one_of(*AMP_MODES),
    "trainer.shared_sampling": _one_of(*SHARED_SAMPLING),
    "controller.lstm_size": _at_least(1), "controller.lstm_layers": _at_least(1),
    "controller.temperature": _optional(_positive()), "controller.tanh_constant": _optional(_positive()),
    "controller.op_tanh_reduce": _positive(), "controller.lr": _positive(), "controller.beta1": _fraction(),
    "controller.eps": _positive(), "controller.baseline_decay": _fraction(), "controller.entropy_weight": _at_least(0),
    "controller.num_aggregate": _at_least(1), "controller.train_steps": _at_least(0),
    "controller.reward_batches": _at_least(1), "controller.reward": _one_of(*REWARDS),
    "controller.skip_target": ((lambda v: 0 < v < 1), "in (0, 1)"), "controller.skip_weight": _at_least(0),
    "controller.grad_clip": _optional(_positive()), "controller.screen_keep": _at_least(0),
    "controller.kind": _one_of(*CONTROLLER_KINDS), "controller.transformer_layers": _at_least(1),
    "controller.transformer_heads": _at_least(1), "controller.algorithm": _one_of(*ALGORITHMS),
    "controller.value_lr": _positive(), "controller.ppo_clip": ((lambda v: 0 < v < 1), "in (0, 1)"),
    "controller.ppo_epochs": _at_least(1), "controller.ppo_minibatch": _optional(_at_least(1)),
    "derive.num_batches": _at_least(1), "derive.top_k": _at_least(1), "derive.uniform_samples": _at_least(0),
    "derive.screen_samples": _at_least(0),
    "derive.short_train.finalists": _at_least(1), "derive.short_train.epochs": _at_least(1),
    "derive.short_train.eta": _at_least(2), "derive.short_train.lr": _positive(),
    "derive.short_train.train_subset": _optional(_at_least(1)),
    "data.batch_size": _at_least(1), "data.eval_batch_size": _at_least(1), "data.valid_size": _positive(),
    "data.test_size": _positive(), "objective": _one_of(*OBJECTIVES),
    "data.train_subset": _optional(_at_least(1)), "data.valid_subset": _optional(_at_least(1)), "data.test_subset": _optional(_at_least(1)),
    "data.cutout": _at_least(0), "data.num_classes": _at_least(2), "data.bptt": _at_least(2),
    "data.split": _one_of(*DATA_SPLITS), "data.source": _one_of(*DATA_SOURCES),
    "proxies.batches": _at_least(1),
    "predictor.ensemble": _at_least(1), "predictor.hidden": _at_least(1), "predictor.steps": _at_least(1),
    "predictor.holdout": _fraction(), "predictor.window": _optional(_at_least(2)), "predictor.min_points": _at_least(2),
    "predictor.pool": _at_least(1), "predictor.evaluate": _at_least(1), "predictor.kappa": _at_least(0),
    "predictor.elite": _at_least(1),
    "evolution.population": _at_least(1), "evolution.sample": _at_least(1),
    "evolution.cycles": _optional(_at_least(1)), "evolution.mutation_rate": _fraction(closed_right=True),
    "evolution.crossover": _fraction(closed_right=True),
    "darts.lr": _positive(), "darts.weight_decay": _at_least(0), "darts.init_scale": _at_least(0),
    "darts.tau_max": _positive(), "darts.tau_min": _positive(), "darts.regulariser": _one_of(*REGULARISERS),
    "darts.regulariser_weight": _at_least(0),
    "preferred.pool": _at_least(0), "preferred.keep": _at_least(1),
    "zero_cost_warmup.steps": _at_least(0), "zero_cost_warmup.pool": _at_least(1),
    "few_shot.split_first": _at_least(0), "few_shot.after_epochs": _at_least(0),
    "multi_trial.trials": _at_least(1), "multi_trial.max_minutes": _at_least(0), "multi_trial.epochs": _at_least(1), "multi_trial.rung_epochs": _at_least(0),
    "multi_trial.eta": _at_least(2), "multi_trial.time_limit": _at_least(0), "multi_trial.engine": _one_of(*ENGINES),
    "multi_trial.select": _one_of("score", "score_az_nas", "score_params"),
    "multi_trial.workers": _at_least(0), "multi_trial.threads": _at_least(0), "multi_trial.retries": _at_least(0),
    "mode": _one_of(*MODES),
    "constraint.max_params": _optional(_positive()), "constraint.max_flops": _optional(_positive()),
    "constraint.max_latency_ms": _optional(_positive()),
    "latency.batch_size": _at_least(1), "latency.repeats": _at_least(1), "latency.warmup": _at_least(0),
    "latency.calibration": _at_least(1), "latency.check": _at_least(0), "latency.target_ms": _optional(_positive()),
    # MnasNet's w is negative: a positive one would reward slower children
    "latency.weight": ((lambda v: v <= 0 and math.isfinite(v)), "<= 0"),
    "keep_every": _at_least(0),
}


def _relations(cfg) -> Iterable[str]:
    """Checks across keys; yields what is wrong."""
    get = lambda key: OmegaConf.select(cfg, key, default=None)  # noqa: E731
    if get("derive.num_samples") is not None:
        minimum = 0 if get("derive.greedy") else 1
        if get("derive.num_samples") < minimum:
            yield (f"derive.num_samples={get('derive.num_samples')} must be >= {minimum}"
                   + ("" if minimum == 0 else " (or derive.greedy=true, which scores the policy's best)"))
    if get("controller.screen_keep") and get("controller.num_aggregate") is not None \
            and get("controller.screen_keep") > get("controller.num_aggregate"):
        yield (f"controller.screen_keep={get('controller.screen_keep')} must be at most controller.num_aggregate="
               f"{get('controller.num_aggregate')} (it keeps that many of each update's samples)")
    if get("controller.kind") == "transformer" and get("controller.lstm_size") and get("controller.transformer_heads") \
            and get("controller.lstm_size") % get("controller.transformer_heads"):
        yield (f"controller.transformer_heads={get('controller.transformer_heads')} must divide controller.lstm_size="
               f"{get('controller.lstm_size')} (the transformer's width)")
    if get("objective") == "benchmark_acc" and not get("benchmark"):
        yield ("objective=benchmark_acc needs a benchmark to look the derived cell up in (benchmark=nb201, "
               "space=nb201); use objective=derive_score otherwise")
    if get("trainer.lr_min") is not None and get("trainer.lr") is not None and get("trainer.lr_min") > get("trainer.lr"):
        yield f"trainer.lr_min={get('trainer.lr_min')} must not exceed trainer.lr={get('trainer.lr')}"
    if get("trainer.warmup_epochs") and get("trainer.epochs") and get("trainer.warmup_epochs") > get("trainer.epochs"):
        yield (f"trainer.warmup_epochs={get('trainer.warmup_epochs')} is more than trainer.epochs="
               f"{get('trainer.epochs')}: the controller would never learn")
    if get("trainer.epochs") == 0:
        if get("derive.select") is None or get("strategy") is None:
            yield "trainer.epochs=0 must be >= 1 (only a search may skip training: trainer.epochs=0 strategy=random)"
        elif get("strategy") != "random":
            yield (f"trainer.epochs=0 (a training-free search) needs strategy=random: strategy={get('strategy')} "
                   "would propose the candidates of a policy that never learned")
    if get("evolution.sample") is not None and get("evolution.population") is not None \
            and get("evolution.sample") > get("evolution.population"):
        yield (f"evolution.sample={get('evolution.sample')} must be at most evolution.population="
               f"{get('evolution.population')} (a tournament draws from the population)")
    betas = get("darts.betas")
    if betas is not None and (len(betas) != 2 or not all(0 <= b < 1 for b in betas)):
        yield f"darts.betas={list(betas)!r} must be two numbers in [0, 1) (Adam's beta1, beta2)"
    if get("darts.tau_min") is not None and get("darts.tau_max") is not None \
            and get("darts.tau_min") > get("darts.tau_max"):
        yield (f"darts.tau_min={get('darts.tau_min')} must not exceed darts.tau_max={get('darts.tau_max')} "
               "(GDAS's temperature falls from tau_max to tau_min)")
    if get("mode") == "multi_trial" and get("multi_trial.rung_epochs") and get("multi_trial.epochs") is not None \
            and get("multi_trial.rung_epochs") >= get("multi_trial.epochs"):
        yield (f"multi_trial.rung_epochs={get('multi_trial.rung_epochs')} must be below multi_trial.epochs="
               f"{get('multi_trial.epochs')} (the first rung comes before the end of a child's budget; 0: no early stopping)")
    if get("few_shot.split") and get("few_shot.split_first"):
        yield "few_shot.split and few_shot.split_first both choose the decisions to split on: give one"
    if (get("few_shot.split") or get("few_shot.split_first")) and get("strategy") in ("darts", "gdas"):
        yield (f"few_shot (sub-supernets per option) needs sampled architectures: strategy={get('strategy')} trains "
               "a relaxed supernet")
    if get("preferred.pool") and get("preferred.keep") and get("preferred.keep") > get("preferred.pool"):
        yield (f"preferred.keep={get('preferred.keep')} must be at most preferred.pool={get('preferred.pool')} "
               "(it keeps the best of the pool)")
    if get("latency.target_ms") is not None and get("strategy") in ("random", "darts", "gdas"):
        yield (f"latency.target_ms (the soft latency reward) needs a strategy that learns from rewards: "
               f"strategy={get('strategy')} has none; use constraint.max_latency_ms (a hard budget)")
    if get("latency.table") and get("latency.target_ms") is None and get("constraint.max_latency_ms") is None \
            and not get("latency.report"):
        yield (f"latency.table={get('latency.table')} is given but nothing uses latency: set "
               "constraint.max_latency_ms, latency.target_ms or latency.report=true")
    if get("predictor.evaluate") is not None and get("predictor.pool") is not None \
            and get("predictor.evaluate") > get("predictor.pool"):
        yield f"predictor.evaluate={get('predictor.evaluate')} must be at most predictor.pool={get('predictor.pool')}"


def check_config(cfg, path: str = "") -> None:
    """Reject keys a schema does not have, including ones added with ``+key=value``.

    Hydra lets ``+`` add keys even to structured nodes; a typo there would otherwise be ignored.
    """
    if not isinstance(cfg, DictConfig):
        return
    schema = OmegaConf.get_type(cfg)
    if is_dataclass(schema):
        allowed = {f.name for f in fields(schema)}
        unknown = sorted(set(cfg.keys()) - allowed)
        if unknown:
            raise KeyError(f"unknown config key {path + unknown[0]!r}; valid keys{' of ' + path[:-1] if path else ''}: "
                           f"{', '.join(sorted(allowed))}")
    for key in cfg.keys():
        check_config(cfg._get_node(key), f"{path}{key}.")


def validate_values(cfg, more: Iterable[str] = ()) -> None:
    """Raise ValueError naming every value of ``cfg`` that is out of its range (all at once, with the
    ``more`` problems a caller found)."""
    problems: List[str] = []
    for key, (ok, expected) in RULES.items():
        value = OmegaConf.select(cfg, key, default=None, throw_on_missing=False)
        if value is None and not expected.endswith("or null"):
            continue  # a key this config does not have (e.g. data.bptt for images)
        try:
            good = ok(value)
        except TypeError:
            good = False
        if not good:
            problems.append(f"{key}={value!r} must be {expected}")
    problems += list(_relations(cfg)) + list(more)
    if problems:
        raise ValueError("invalid configuration: " + "; ".join(problems))


# Keys a resumed run may change: its length, its display, where things are, and derive's settings.
RESUME_MAY_CHANGE = ("trainer.epochs", "trainer.progress", "trainer.log_every", "resume", "output_dir", "device",
                     "data.root", "data.split_file", "data.download", "benchmark_file", "derive", "tune_malloc",
                     "keep_every", "task_name", "imports", "overwrite", "multi_trial.trials", "multi_trial.engine",
                     "multi_trial.workers", "multi_trial.threads", "multi_trial.address", "multi_trial.max_minutes")


def _flatten(node: Any, prefix: str = "") -> Dict[str, Any]:
    if isinstance(node, Mapping):
        out: Dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def config_differences(stored: Mapping, current, allowed: Iterable[str] = RESUME_MAY_CHANGE) -> List[str]:
    """``key: stored -> current`` for every value the two configs both hold and disagree on, outside
    ``allowed`` (a key or a prefix of keys)."""
    if isinstance(current, DictConfig):
        current = OmegaConf.to_container(current, resolve=True)
    a, b = _flatten(stored), _flatten(current)
    allowed = tuple(allowed)
    diffs = []
    for key in sorted(set(a) & set(b)):
        if any(key == p or key.startswith(p + ".") for p in allowed):
            continue
        if a[key] != b[key]:
            diffs.append(f"{key}: {a[key]!r} -> {b[key]!r}")
    return diffs
