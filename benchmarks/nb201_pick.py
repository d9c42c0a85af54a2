"""What picks the cell? Every final-pick signal replayed on finished NAS-Bench-201 searches, with baselines.

Derive writes every candidate it scored to ``derive_candidates.csv``: best first by shared-weight score,
its finalists with their whole-validation score, and one column per signal it computed (the zero-cost
proxies, ``az_nas``, ``predictor``, ``combined``, ``selected``). This script trains nothing: for each run
it looks up the cell each signal alone would have picked among those same candidates, and the Kendall
tau of that signal against the benchmark within the candidates, so a table shows which part carries the
pick. Rules:

- ``derive``: what the run shipped (the candidate marked ``selected``; older runs: the rule below);
- ``shared``: the best finalist by whole-validation shared-weight score (ENAS's derive);
- one rule per signal column (``expressivity`` ... ``az_nas``, ``predictor``, ``combined``, ``params``);
- ``az_nas_params``: the rank sum of AZ-NAS and the parameter count within the candidates;
- ``additive``: a per-edge ridge model of the shared-weight losses, its best candidate;
- ``oracle_12ep@K``: the benchmark's own 12-epoch accuracy among the K best by shared weights: the best a
  final pick by short training could do (a search cannot read the table; an upper bound, not a method).

With ``--baseline zero_cost.json ...`` (from ``benchmarks/zero_cost.py``; shards of one scoring are
merged), the no-search rows: for each run, the best cell by a zero-cost signal (and by parameters alone)
among as many uniform random cells as that signal scores in the run's own wall time (``--cost
name=seconds`` per cell, default what zero_cost.py measured), drawn from the scored pool with the run's
seed, within the run's budget when it had one. Only a pool much larger than that many cells (the whole
space, ``zero_cost.py --all``) gives these rows a spread. When the file holds every candidate, ``az_nas
[baseline's scores]`` is AZ-NAS's pick among the run's own candidates scored by the file instead (another
seed), printed with each part's Kendall tau between the two scorings: the part of a pick that is the
proxy's own noise.

    python benchmarks/nb201_pick.py --nb201 ../shared/data/nasbench201 outputs/nb201_s0 outputs/nb201_s1 \
        --baseline zero_cost.json

Each path is a search run folder (holding ``derive_candidates.csv``) or a folder of them (an ``--out`` of
``nb201.py``). Percentiles are of the whole space, or of the cells within the run's budget.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import random
import statistics
import sys
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import supernet  # noqa: E402
from enas.report.benchmark import NB201Table  # noqa: E402
from enas.search.constraints import Constraint  # noqa: E402
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum, rank_sum  # noqa: E402
from _common import AZ_NAS_PARAMS, load_scores, with_combinations  # noqa: E402

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NOT_SIGNALS = {"rank", "acc", "loss", "score", "full_acc", "full_loss", "full_score", "selected", "architecture",
               "ppl", "full_ppl", "source"}
BASELINE_SIGNALS = ("az_nas", "az_nas_params", "zico", "synflow", "naswot", "params")


def _num(value: str):
    """A CSV cell: a float, None when empty, or the text itself (e.g. ``source``)."""
    if value in ("", None):
        return None
    try:
        return float(value)
    except ValueError:
        return value


def load_candidates(run_dir: Path) -> List[Dict]:
    """Derive's candidates of a run, best first by shared-weight score, with every numeric column."""
    with open(run_dir / "derive_candidates.csv", newline="") as f:
        return [{"arch": json.loads(r.pop("architecture")), **{k: _num(v) for k, v in r.items()}}
                for r in csv.DictReader(f)]


def run_config(run_dir: Path):
    return OmegaConf.load(run_dir / "config.yaml")


def benchmark_acc(table: NB201Table, arch: Dict) -> float:
    return table.lookup(supernet.to_nb201_string(arch))["cifar10_test_acc"]


def pick_shared(cands: List[Dict]) -> int:
    finalists = [i for i, c in enumerate(cands) if c.get("full_score") is not None]
    if not finalists:
        return 0
    return max(finalists, key=lambda i: (cands[i]["full_score"], -cands[i]["full_loss"]))


def pick_derive(cands: List[Dict]) -> int:
    chosen = [i for i, c in enumerate(cands) if c.get("selected")]
    return chosen[0] if chosen else pick_shared(cands)


def pick_additive(cands: List[Dict], ridge: float = 0.1) -> int:
    edges = sorted(cands[0]["arch"])
    x = np.array([[1.0] + [float(c["arch"][e] == op) for e in edges for op in OPS] for c in cands])
    y = np.array([c["loss"] for c in cands])
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return int(np.argmin(x @ w))


def pick_signal(cands: List[Dict], name: str) -> int:
    return max(range(len(cands)), key=lambda i: (_finite(cands[i].get(name)), -cands[i]["loss"]))


def pick_oracle_12ep(cands: List[Dict], table: NB201Table, k: int) -> int:
    return max(range(min(k, len(cands))), key=lambda i: table.lookup(
        supernet.to_nb201_string(cands[i]["arch"]))["cifar10_valid_acc_12ep"])


def _finite(value) -> float:
    return value if value is not None and math.isfinite(value) else -math.inf


def signal_columns(cands: List[Dict]) -> List[str]:
    return [k for k in cands[0] if k not in NOT_SIGNALS and k != "arch"
            and all(isinstance(c.get(k), float) for c in cands) and any(math.isfinite(c[k]) for c in cands)]


def by_source(cands: List[Dict], signals: List[str], top_k: int) -> Dict[str, int]:
    """Picks among the candidates of one source only (the strategy's, or derive's uniform extra ones),
    with combinations recomputed within that subset: what the pool itself contributes."""
    picks = {}
    for source in ("strategy", "uniform"):
        subset = [i for i, c in enumerate(cands) if c.get("source") in ((source, "greedy") if source == "strategy"
                                                                       else (source,))]
        if not subset or len(subset) == len(cands):
            continue
        rows = [cands[i] for i in subset]
        picks[f"shared [{source}]"] = subset[pick_shared(rows)] if any(r.get("full_score") for r in rows) else \
            subset[max(range(len(rows)), key=lambda j: rows[j]["score"])]
        for name, names in (("combined", signals), ("az_nas", list(AZ_NAS))):
            if all(isinstance(r.get(n), float) for r in rows for n in names):
                values = log_rank_sum(rows, names)
                picks[f"{name} [{source}]"] = subset[max(range(len(rows)), key=lambda j: values[j])]
    return picks


def replay(run_dir: Path, table: NB201Table, oracle_k: List[int]) -> Dict[str, float]:
    """Benchmark test accuracy of each rule's pick among this run's derive candidates."""
    return {rule: acc for rule, (acc, _) in replay_with_tau(run_dir, table, oracle_k).items()}


def replay_with_tau(run_dir: Path, table: NB201Table, oracle_k: List[int]) -> Dict[str, tuple]:
    """rule -> (benchmark accuracy of its pick, Kendall tau of its signal within the candidates)."""
    cands = load_candidates(run_dir)
    derive_cfg = run_config(run_dir).derive
    top_k = derive_cfg.top_k
    truth = [benchmark_acc(table, c["arch"]) for c in cands]
    picks = {"derive": (pick_derive(cands), None), "shared": (pick_shared(cands), None)}
    for name in signal_columns(cands):
        values = [c[name] for c in cands]
        if name == "loss":
            continue
        picks[name] = (pick_signal(cands, name), kendall_tau([_finite(v) for v in values], truth))
    if all(name in picks for name in AZ_NAS_PARAMS):
        values = rank_sum(cands, AZ_NAS_PARAMS)
        picks["az_nas_params"] = (max(range(len(cands)), key=lambda i: (values[i], -cands[i]["loss"])),
                                  kendall_tau(values, truth))
    if "params" not in picks:  # older runs: the convolution weights per C x C, a size prior
        size = [sum({"nor_conv_1x1": 1, "nor_conv_3x3": 9}.get(op, 0) for op in c["arch"].values()) for c in cands]
        picks["most_params"] = (max(range(len(cands)), key=lambda i: (size[i], -cands[i]["loss"])),
                                kendall_tau(size, truth))
    signals = list(derive_cfg.get("signals", ["shared"]))
    if any(math.isfinite(c.get("score", c["loss"])) for c in cands):  # a training-free run has no shared score
        picks["additive"] = (pick_additive(cands), None)
        picks.update({rule: (i, None) for rule, i in by_source(cands, signals, top_k).items()})
    else:
        del picks["shared"]
    for k in dict.fromkeys([top_k, *oracle_k]):
        picks[f"oracle_12ep@{k}"] = (pick_oracle_12ep(cands, table, k), None)
    return {rule: (truth[i], tau) for rule, (i, tau) in picks.items()}


def run_dirs(paths: List[Path]) -> List[Path]:
    found = []
    for path in paths:
        inside = [path] if (path / "derive_candidates.csv").is_file() else sorted(
            p.parent for p in path.glob("*/derive_candidates.csv"))
        if not inside:
            raise FileNotFoundError(f"no derive_candidates.csv in {path} or its subfolders: pass search run folders "
                                    "or the --out folders of nb201.py")
        found += inside
    return found


def run_budget(run_dir: Path) -> Optional[Constraint]:
    """The run's own budget over the searched supernet (None without one)."""
    cfg = run_config(run_dir)
    limit = cfg.get("constraint", {}) or {}
    if limit.get("max_params") is None and limit.get("max_flops") is None:
        return None
    space = OmegaConf.to_container(cfg.space, resolve=True)
    model = supernet.create_space(space.pop("name"), **space)
    example = None
    if limit.get("max_flops") is not None:
        import torch

        example = torch.zeros(1, 3, 32, 32)
    return Constraint(model, limit.get("max_params"), limit.get("max_flops"), example)


def run_minutes(run_dir: Path) -> Optional[float]:
    """Wall time of a run as nb201.py recorded it (its --out folder's nb201_results.json)."""
    results = run_dir.parent / "nb201_results.json"
    if results.is_file():
        for row in json.loads(results.read_text())["rows"]:
            if run_dir.name == f"{row['method']}_seed{row['seed']}":
                return row["minutes"]
    return None


def no_search(pool: List[Dict], signal: str, k: int, seed: int) -> float:
    """Benchmark accuracy of the best-by-``signal`` cell among ``k`` drawn from ``pool`` (seeded)."""
    drawn = random.Random(seed).sample(pool, min(k, len(pool)))
    if signal in ("az_nas", "az_nas_params"):
        drawn = with_combinations(drawn)
    return max(drawn, key=lambda r: r[signal])["acc"]  # ties: the first drawn (a seeded random order)


def rescored(cands: List[Dict], by_arch: Dict[str, Dict]) -> Optional[tuple]:
    """AZ-NAS's pick among a run's own candidates, each scored instead by the baseline's file (another seed's
    minibatch and initialisation), and each AZ-NAS part's Kendall tau between the run's scores and the file's:
    how much of the pick is the proxy's own noise. None unless the file holds every candidate (``--all``)."""
    cells = list(dict.fromkeys(supernet.to_nb201_string(c["arch"]) for c in cands))
    if not all(cell in by_arch for cell in cells) or not all(n in by_arch[cells[0]] for n in AZ_NAS):
        return None
    rows = with_combinations([by_arch[cell] for cell in cells])
    own = {supernet.to_nb201_string(c["arch"]): c for c in cands}
    agreement = {n: kendall_tau([_finite(own[cell].get(n)) for cell in cells], [r[n] for r in rows])
                 for n in AZ_NAS if all(isinstance(c.get(n), float) for c in cands)}
    return max(rows, key=lambda r: r["az_nas"])["acc"], agreement


def baseline_signals(pool: List[Dict]) -> List[str]:
    """The no-search signals the scored pool can give (a combination needs all of its parts)."""
    parts = {"az_nas": AZ_NAS, "az_nas_params": (*AZ_NAS, "params")}
    return [s for s in BASELINE_SIGNALS if all(n in r for r in pool for n in parts.get(s, (s,)))]


def summary(name: str, accs: List[float], top5: List[bool], taus: List[float], width: int) -> str:
    std = statistics.stdev(accs) if len(accs) > 1 else 0.0
    tau = f"{statistics.mean(taus):6.3f}" if taus else f"{'':6}"
    return (f"{name:{width}} {statistics.mean(accs):6.2f} +- {std:4.2f}  min {min(accs):6.2f}  "
            f"in the top 5%: {sum(top5):2d}/{len(accs)}  tau {tau}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or folders of them")
    p.add_argument("--nb201", required=True, help="folder with nb201_accuracies.csv")
    p.add_argument("--oracle-k", nargs="+", type=int, default=[20], help="K of the 12-epoch oracle (and derive.top_k)")
    p.add_argument("--baseline", type=Path, nargs="+",
                   help="zero_cost.py outputs (shards are merged) of uniform cells: adds the no-search rows")
    p.add_argument("--cost", nargs="*", default=[],
                   help="seconds per cell of the baseline signals, as name=seconds (default: from --baseline)")
    args = p.parse_args()
    try:
        cost_given = {name: float(seconds) for name, seconds in (c.split("=") for c in args.cost)}
    except ValueError:
        p.error(f"--cost takes name=seconds pairs (e.g. az_nas=0.42), got {' '.join(args.cost)}")
    table = NB201Table(str(Path(args.nb201) / "nb201_accuracies.csv"))
    runs = run_dirs(args.runs)
    results: Dict[str, Dict[str, tuple]] = {}
    budgets, seeds, agreement = {}, {}, {}
    for run in runs:
        results[str(run)] = replay_with_tau(run, table, args.oracle_k)
        budgets[str(run)] = run_budget(run)
        seeds[str(run)] = int(run_config(run).seed)
    if args.baseline:
        saved = load_scores(args.baseline)
        cost = {**saved.get("seconds_per_cell", {}), **cost_given}
        cost.setdefault("az_nas_params", cost.get("az_nas", 0.5))  # params come free with AZ-NAS's pass
        scored = baseline_signals(saved["rows"])
        by_arch = {r["arch_str"]: r for r in saved["rows"]}
        for run in runs:
            again = rescored(load_candidates(run), by_arch)
            if again is not None:
                results[str(run)]["az_nas [baseline's scores]"] = (again[0], None)
                agreement[str(run)] = again[1]
            minutes = run_minutes(run)
            if minutes is None:
                continue
            budget = budgets[str(run)]
            pool = [r for r in saved["rows"]
                    if budget is None or budget.feasible(supernet.from_nb201_string(r["arch_str"]))]
            for signal in scored:
                k = len(pool) if signal == "params" else int(minutes * 60 / cost.get(signal, 0.5))
                results[str(run)][f"no-search {signal}"] = (no_search(pool, signal, k, seeds[str(run)]), None)
    rules = list(dict.fromkeys(r for row in results.values() for r in row))
    width = max(len(r) for r in rules)
    name_w = max(len(r) for r in results)
    print(f"{'run':{name_w}} " + " ".join(f"{r[:12]:>12}" for r in rules))
    for run, row in results.items():
        print(f"{run:{name_w}} " + " ".join(f"{row[r][0]:12.2f}" if r in row else f"{'':12}" for r in rules))
    top5 = {}
    for run in results:
        values = table.within_budget(budgets[run]) if budgets[run] is not None else None
        top5[run] = table.quantile(5, values=values)
    print(f"\nper rule over {len(results)} runs (mean +- std of the picked cell's CIFAR-10 test accuracy, how many "
          "runs it lands in the top 5%, Kendall tau of the signal within the candidates):")
    for rule in rules:
        have = [run for run in results if rule in results[run]]
        accs = [results[run][rule][0] for run in have]
        taus = [results[run][rule][1] for run in have if results[run][rule][1] is not None]
        print("  " + summary(rule, accs, [results[run][rule][0] >= top5[run] for run in have], taus, width))
    if any(agreement.values()):
        parts = list(dict.fromkeys(n for row in agreement.values() for n in row))
        print(f"\nthe run's own zero-cost scores against the baseline's (another seed), Kendall tau over the "
              f"candidates, mean over {len(agreement)} runs: " + ", ".join(
                  f"{n} {statistics.mean(row[n] for row in agreement.values() if n in row):.3f}" for n in parts))


if __name__ == "__main__":
    main()
