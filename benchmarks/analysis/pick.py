"""What picks the cell? Every final-pick signal replayed on finished NAS-Bench-201 searches, with baselines.

Derive writes every candidate it scored to ``derive_candidates.csv``: best first by shared-weight score,
its finalists with their whole-validation score, and one column per signal it computed (the zero-cost
proxies, ``az_nas``, ``predictor``, ``combined``, ``selected``). This trains nothing: for each run it looks
up the cell each signal alone would have picked among those same candidates, and the Kendall tau of that
signal against the benchmark within the candidates, so the table shows which part carries the pick. Rules:

- ``derive``: what the run shipped (the candidate marked ``selected``; without that column: the rule below);
- ``shared``: the best finalist by whole-validation shared-weight score (ENAS's derive);
- one rule per signal column (``expressivity`` ... ``az_nas``, ``predictor``, ``combined``, ``params``);
- ``az_nas_params``: the rank sum of AZ-NAS and the parameter count within the candidates;
- ``additive``: a per-edge ridge model of the shared-weight losses, its best candidate;
- ``oracle_12ep@K``: the benchmark's own 12-epoch accuracy among the K best by shared weights: the best a
  final pick by short training could do (a search cannot read the table; an upper bound, not a method).

With ``--baseline`` score files (``benchmarks.zero_cost --out``; shards of one scoring are merged; the
shipped ``benchmarks/data/nb201_az_nas_whole_space.json.gz`` holds the whole space), the no-search rows:
for each run, the best cell by a zero-cost signal (and by parameters alone) among as many uniform random
cells as that signal scores in the run's own wall time (``--cost name=seconds`` per cell, default what
zero_cost measured), drawn from the scored pool with the run's seed, within the run's budget when it had
one. Only a pool much larger than that many cells (the whole space) gives these rows a spread. When the
file holds every candidate, ``az_nas [baseline's scores]`` is AZ-NAS's pick among the run's own candidates
scored by the file instead (another seed), printed with each part's Kendall tau between the two scorings:
the part of a pick that is the proxy's own noise.

    python -m benchmarks.analysis pick --nb201 data/nasbench201 outputs/nb201_benchmark \
        --baseline benchmarks/data/nb201_az_nas_whole_space.json.gz --cost az_nas=0.64

Each path is a search run folder (holding ``derive_candidates.csv``) or a folder of them (an ``--out`` of
``benchmarks.nb201``). Prints one row per run (the picked cell's CIFAR-10 test accuracy per rule), then per
rule the mean +- std over runs, the count in the top 5% (of the whole space, or of the cells within the
run's budget) and the mean tau. Seconds per run on a CPU.
"""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

import supernet
from benchmarks._common import (AZ_NAS_PARAMS, add_nb201_argument, benchmark_acc, cost_pair, finite, load_candidates,
                                load_scores, nb201_table, no_search, run_budget, run_config, run_dirs, top5_within,
                                with_combinations)
from enas.predictors.ranking import AZ_NAS, kendall_tau, log_rank_sum, rank_sum
from enas.report.benchmark import NB201Table

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NOT_SIGNALS = {"rank", "acc", "loss", "score", "full_acc", "full_loss", "full_score", "selected", "architecture",
               "ppl", "full_ppl", "source"}
BASELINE_SIGNALS = ("az_nas", "az_nas_params", "zico", "synflow", "naswot", "params")


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
    return max(range(len(cands)), key=lambda i: (finite(cands[i].get(name)), -cands[i]["loss"]))


def pick_oracle_12ep(cands: List[Dict], table: NB201Table, k: int) -> int:
    return max(range(min(k, len(cands))), key=lambda i: table.lookup(
        supernet.to_nb201_string(cands[i]["arch"]))["cifar10_valid_acc_12ep"])


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
        picks[name] = (pick_signal(cands, name), kendall_tau([finite(v) for v in values], truth))
    if all(name in picks for name in AZ_NAS_PARAMS):
        values = rank_sum(cands, AZ_NAS_PARAMS)
        picks["az_nas_params"] = (max(range(len(cands)), key=lambda i: (values[i], -cands[i]["loss"])),
                                  kendall_tau(values, truth))
    if "params" not in picks:  # a run that recorded no params: the convolution weights per C x C, a size prior
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


def run_minutes(run_dir: Path) -> Optional[float]:
    """Wall time of a run as benchmarks.nb201 recorded it (its --out folder's nb201_results.json)."""
    results = run_dir.parent / "nb201_results.json"
    if results.is_file():
        for row in json.loads(results.read_text())["rows"]:
            if run_dir.name == f"{row['method']}_seed{row['seed']}":
                return row["minutes"]
    return None


def rescored(cands: List[Dict], by_arch: Dict[str, Dict]) -> Optional[tuple]:
    """AZ-NAS's pick among a run's own candidates, each scored instead by the baseline's file (another seed's
    minibatch and initialisation), and each AZ-NAS part's Kendall tau between the run's scores and the file's:
    how much of the pick is the proxy's own noise. None unless the file holds every candidate (``--all``)."""
    cells = list(dict.fromkeys(supernet.to_nb201_string(c["arch"]) for c in cands))
    if not all(cell in by_arch for cell in cells) or not all(n in by_arch[cells[0]] for n in AZ_NAS):
        return None
    rows = with_combinations([by_arch[cell] for cell in cells])
    own = {supernet.to_nb201_string(c["arch"]): c for c in cands}
    agreement = {n: kendall_tau([finite(own[cell].get(n)) for cell in cells], [r[n] for r in rows])
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


def add_arguments(p):
    p.add_argument("runs", nargs="+", type=Path, help="search run folders, or folders of them")
    add_nb201_argument(p)
    p.add_argument("--oracle-k", nargs="+", type=int, default=[20], help="K of the 12-epoch oracle (and derive.top_k)")
    p.add_argument("--baseline", type=Path, nargs="+",
                   help="zero_cost outputs (shards are merged) of uniform cells: adds the no-search rows")
    p.add_argument("--cost", nargs="*", type=cost_pair, default=[],
                   help="seconds per cell of the baseline signals, as name=seconds (default: from --baseline)")


def run(args):
    cost_given = dict(args.cost)
    table = nb201_table(args.nb201)
    runs = run_dirs(args.runs)
    results: Dict[str, Dict[str, tuple]] = {}
    budgets, seeds, agreement = {}, {}, {}
    for run_dir in runs:
        results[str(run_dir)] = replay_with_tau(run_dir, table, args.oracle_k)
        budgets[str(run_dir)] = run_budget(run_dir)
        seeds[str(run_dir)] = int(run_config(run_dir).seed)
    if args.baseline:
        saved = load_scores(args.baseline)
        cost = {**saved.get("seconds_per_cell", {}), **cost_given}
        cost.setdefault("az_nas_params", cost.get("az_nas", 0.5))  # params come free with AZ-NAS's pass
        scored = baseline_signals(saved["rows"])
        by_arch = {r["arch_str"]: r for r in saved["rows"]}
        for run_dir in runs:
            again = rescored(load_candidates(run_dir), by_arch)
            if again is not None:
                results[str(run_dir)]["az_nas [baseline's scores]"] = (again[0], None)
                agreement[str(run_dir)] = again[1]
            minutes = run_minutes(run_dir)
            if minutes is None:
                continue
            budget = budgets[str(run_dir)]
            pool = [r for r in saved["rows"]
                    if budget is None or budget.feasible(supernet.from_nb201_string(r["arch_str"]))]
            for signal in scored:
                k = len(pool) if signal == "params" else int(minutes * 60 / cost.get(signal, 0.5))
                results[str(run_dir)][f"no-search {signal}"] = (no_search(pool, signal, k, seeds[str(run_dir)])["acc"], None)
    rules = list(dict.fromkeys(r for row in results.values() for r in row))
    width = max(len(r) for r in rules)
    name_w = max(len(r) for r in results)
    print(f"{'run':{name_w}} " + " ".join(f"{r[:12]:>12}" for r in rules))
    for run_dir, row in results.items():
        print(f"{run_dir:{name_w}} " + " ".join(f"{row[r][0]:12.2f}" if r in row else f"{'':12}" for r in rules))
    top5 = {run_dir: top5_within(table, budgets[run_dir]) for run_dir in results}
    print(f"\nper rule over {len(results)} runs (mean +- std of the picked cell's CIFAR-10 test accuracy, how many "
          "runs it lands in the top 5%, Kendall tau of the signal within the candidates):")
    for rule in rules:
        have = [run_dir for run_dir in results if rule in results[run_dir]]
        accs = [results[run_dir][rule][0] for run_dir in have]
        taus = [results[run_dir][rule][1] for run_dir in have if results[run_dir][rule][1] is not None]
        print("  " + summary(rule, accs, [results[run_dir][rule][0] >= top5[run_dir] for run_dir in have], taus, width))
    if any(agreement.values()):
        parts = list(dict.fromkeys(n for row in agreement.values() for n in row))
        print(f"\nthe run's own zero-cost scores against the baseline's (another seed), Kendall tau over the "
              f"candidates, mean over {len(agreement)} runs: " + ", ".join(
                  f"{n} {statistics.mean(row[n] for row in agreement.values() if n in row):.3f}" for n in parts))
