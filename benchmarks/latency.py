"""Latency tables against direct measurement, and a latency-budgeted NAS-Bench-201 search on the table.

(a) For the children of the two CPU proxies, the micro space at the quick start's size (``experiment=quickstart``:
3 layers + 2 reductions, 16 channels, 5 nodes) and NAS-Bench-201 at ``nb201_cpu_proxy``'s (C=8, N=1), build
the latency table a search builds (`enas.search.latency.LatencyTable`, in the search's memory format, on
32x32 images at ``--batch-size``) and measure ``--children`` uniformly random children directly: the median
and the largest relative error of the prediction, and the seconds the table took.

(b) Predict the latency of all 15,625 NAS-Bench-201 cells with the NB201 table, set a budget (the
``--budget-quantile`` of the predictions, the median by default) and search on the benchmark's table
(`benchmarks.nb201_tabular`: REA and REINFORCE, fitness the 12-epoch validation accuracy, ``--queries`` per
run) restricted to the cells within the budget by rejection (`enas.search.Constraint`, as a search keeps a
budget). Per seed: the pick's CIFAR-10 test accuracy (200 epochs) against the best cell within the budget,
its percentile among those cells, and whether its latency measured directly is within the budget.

    python -m benchmarks.latency --nb201 $NB201_DIR
    python -m benchmarks.latency --nb201 $NB201_DIR --seeds 20 --budget-quantile 0.25 --children 50

Run it with nothing else on the machine: latencies are wall-clock. Writes everything to ``--out`` (JSON).
Runtime on one thread of a 2-core CPU: about a minute with the defaults.
"""
from __future__ import annotations

import argparse
import statistics
import time
from types import SimpleNamespace
from typing import Dict

import numpy as np
import torch

import supernet
from benchmarks._common import add_nb201_argument, compose, nb201_table, write_json
from benchmarks.nb201_tabular import STRATEGIES, TabularNB201, picks
from enas.search import Constraint, build_supernet
from enas.search.build import to_memory_format
from enas.search.latency import LatencyTable, device_description

PROXIES = {"micro": ("quickstart", "micro, quick start (3+2 layers x 16)"),
           "nb201": ("nb201_cpu_proxy", "NB201, CPU proxy (C=8, N=1)")}


def proxy_table(experiment: str, args) -> LatencyTable:
    """The latency table of an experiment's searched space, as its search would build it (on the CPU)."""
    cfg = compose("search", [f"experiment={experiment}", "device=cpu"])
    model, space = build_supernet(cfg.space, torch.device("cpu"))
    to_memory_format(model, cfg.trainer)
    example = torch.randn(1, 3, 32, 32)
    if cfg.trainer.channels_last:
        example = example.contiguous(memory_format=torch.channels_last)
    return LatencyTable.build(model, example, space, args.batch_size, args.repeats, args.warmup, args.calibration,
                              args.seed)


def table_errors(args) -> Dict[str, Dict]:
    results = {}
    for name, (experiment, _) in PROXIES.items():
        table = proxy_table(experiment, args)
        began = time.time()
        error = table.check_error(args.children, args.seed)
        measured = [r["measured_ms"] for r in error["rows"]]
        results[name] = {"table": table, "build_seconds": table.data["build_seconds"],
                         "check_seconds": time.time() - began, "choices": len(table.data["ops"]),
                         "calibration": {k: v for k, v in table.data["calibration"].items() if k != "children"},
                         "measured_median_ms": statistics.median(measured),
                         "measured_range_ms": [min(measured), max(measured)], **error}
    return results


def budgeted_search(table: LatencyTable, args) -> Dict:
    """Part (b): the tabular strategies within a latency budget set on the table's predictions."""
    cells = nb201_table(args.nb201)
    bench = TabularNB201(cells, args.fitness)
    predicted = np.full(len(bench.fitness), np.nan)
    for arch_str in cells.rows:
        arch = supernet.from_nb201_string(arch_str)
        predicted[bench.code(arch)] = table.predict(arch)
    budget = float(np.quantile(predicted, args.budget_quantile))
    fits = predicted <= budget
    within = np.sort(bench.test[fits])
    best_within = float(within[-1])
    settings = SimpleNamespace(**vars(args), constraint=Constraint(table.model, max_latency_ms=budget, latency=table))
    measured: Dict[int, float] = {}  # code -> the pick's latency measured directly (once per distinct pick)
    runs: Dict[str, Dict] = {}
    for name in args.strategies:
        began = time.time()
        queried = np.stack([STRATEGIES[name](bench, seed, args.queries, settings)
                            for seed in range(args.first_seed, args.first_seed + args.seeds)])
        seconds = time.time() - began
        assert fits[queried].all(), f"{name} queried a cell outside the budget"
        runs[name] = {"seconds": seconds, "picks": []}
        for seed, code in zip(range(args.first_seed, args.first_seed + args.seeds),
                              picks(bench, queried, [args.queries])[args.queries]):
            code = int(code)
            if code not in measured:
                measured[code] = table.measure(_arch(bench, code))
            test = float(bench.test[code])
            runs[name]["picks"].append({"seed": seed, "arch_index": int(bench.arch_index[code]),
                               "arch_str": supernet.to_nb201_string(_arch(bench, code)), "test_acc": test,
                               "gap_to_best_within": best_within - test,
                               "top_percent_within": 100.0 * float((within >= test).mean()),
                               "predicted_ms": float(predicted[code]), "measured_ms": measured[code],
                               "measured_within": measured[code] <= budget})
    return {"budget_ms": budget, "budget_quantile": args.budget_quantile, "cells_within": int(fits.sum()),
            "best_within": best_within, "best_overall": float(bench.test.max()),
            "predicted_range_ms": [float(predicted.min()), float(predicted.max())], "runs": runs}


def _arch(bench: TabularNB201, code: int) -> Dict:
    """The cell whose edges' op indices spell ``code`` in base 5 (`TabularNB201.code` backwards)."""
    values = []
    for d in reversed(bench.decisions):
        code, index = divmod(code, len(d.options))
        values.append((d.label, d.options[index]))
    return dict(reversed(values))


def show(errors: Dict, search: Dict, args) -> None:
    env = next(iter(errors.values()))["table"].environment
    print(f"Latency tables against direct measurement: {env['device']}, {env['threads']} thread(s), batch "
          f"{env['batch_size']}, torch {env['torch']}, {env['memory_format']}; median of {args.repeats} passes "
          f"after {args.warmup}, {args.calibration} calibration children, {args.children} random children checked")
    print(f"{'space':<38}{'choices':>8}{'build s':>9}{'calibration':>24}{'child ms (range)':>22}"
          f"{'median err':>12}{'max err':>9}")
    for name, r in errors.items():
        c = r["calibration"]
        lo, hi = r["measured_range_ms"]
        print(f"{PROXIES[name][1]:<38}{r['choices']:>8}{r['build_seconds']:>9.1f}"
              f"{c['offset_ms']:>8.3f} ms + {c['scale']:.2f} x ops{r['measured_median_ms']:>10.2f} ({lo:.2f}-{hi:.2f})"
              f"{100 * r['median_relative']:>11.1f}%{100 * r['max_relative']:>8.1f}%")
    print(f"\nLatency-budgeted NAS-Bench-201 search on the table: budget {search['budget_ms']:.3f} ms (the "
          f"{search['budget_quantile']:.0%} quantile of the 15,625 cells' predicted latency, "
          f"{search['predicted_range_ms'][0]:.3f}-{search['predicted_range_ms'][1]:.3f} ms); "
          f"{search['cells_within']:,} cells within it, the best of them {search['best_within']:.2f} "
          f"(best overall {search['best_overall']:.2f}); {args.queries} queries of {args.fitness} per run")
    print(f"{'strategy':<11}{'seed':>5}{'arch_index':>11}{'test acc':>9}{'gap':>7}{'top % within':>13}"
          f"{'pred ms':>9}{'meas ms':>9}  within budget (measured)")
    for name in args.strategies:
        for r in search["runs"][name]["picks"]:
            print(f"{name:<11}{r['seed']:>5}{r['arch_index']:>11}{r['test_acc']:>9.2f}{r['gap_to_best_within']:>7.2f}"
                  f"{r['top_percent_within']:>13.2f}{r['predicted_ms']:>9.3f}{r['measured_ms']:>9.3f}  "
                  f"{'yes' if r['measured_within'] else 'NO'}")
    print(f"\n{'strategy':<11}{'test acc mean +- std':>22}{'gap to best within':>20}{'measured within':>17}"
          f"{'seconds':>9}")
    for name in args.strategies:
        runs = search["runs"][name]["picks"]
        test = [r["test_acc"] for r in runs]
        print(f"{name:<11}{statistics.mean(test):>14.2f} +- {statistics.stdev(test):.2f}"
              f"{statistics.mean(r['gap_to_best_within'] for r in runs):>20.2f}"
              f"{sum(r['measured_within'] for r in runs):>12} of {len(runs)}{search['runs'][name]['seconds']:>9.1f}")
    worst = max(r["median_relative"] for r in errors.values())
    inside = all(r["measured_within"] for name in args.strategies for r in search["runs"][name]["picks"])
    print(f"\nTargets: table median relative error <= 10% on both proxies: {'met' if worst <= 0.10 else 'NOT met'} "
          f"(worst {100 * worst:.1f}%); every pick measured within the budget: {'yes' if inside else 'no'}")


def main(argv=None) -> Dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_nb201_argument(parser)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the table holds for this many)")
    parser.add_argument("--seed", type=int, default=0, help="the random children of the calibration and the check")
    parser.add_argument("--out", default="outputs/latency.json")
    table = parser.add_argument_group("the tables (enas.config.LatencyConfig's defaults)")
    table.add_argument("--batch-size", type=int, default=1)
    table.add_argument("--repeats", type=int, default=30)
    table.add_argument("--warmup", type=int, default=5)
    table.add_argument("--calibration", type=int, default=10)
    table.add_argument("--children", type=int, default=30, help="random children measured directly, per proxy")
    search = parser.add_argument_group("the budgeted search (benchmarks.nb201_tabular's settings)")
    search.add_argument("--budget-quantile", type=float, default=0.5, help="the budget: this quantile of the "
                        "predicted latencies (0.5: the median)")
    search.add_argument("--strategies", nargs="+", default=["evolution", "reinforce"], choices=list(STRATEGIES))
    search.add_argument("--seeds", type=int, default=10)
    search.add_argument("--first-seed", type=int, default=0)
    search.add_argument("--queries", type=int, default=200, help="table lookups per run")
    search.add_argument("--fitness", default="cifar10_valid_acc_12ep")
    search.add_argument("--population", type=int, default=10)
    search.add_argument("--sample", type=int, default=3)
    search.add_argument("--mutation-rate", type=float, default=0.0)
    search.add_argument("--crossover", type=float, default=0.0)
    search.add_argument("--lstm-size", type=int, default=32)
    search.add_argument("--controller-lr", type=float, default=0.05)
    search.add_argument("--baseline-decay", type=float, default=0.95)
    search.add_argument("--num-aggregate", type=int, default=10)
    args = parser.parse_args(argv)
    if not 0 < args.budget_quantile <= 1 or args.seeds < 2:
        parser.error("--budget-quantile must be in (0, 1] and --seeds >= 2 (a std needs two)")
    if any(name.endswith("_zc") for name in args.strategies):
        parser.error("the zero-cost warm-up strategies need a score file: run them with benchmarks.nb201_tabular")
    torch.set_num_threads(args.threads)
    errors = table_errors(args)
    search = budgeted_search(errors["nb201"]["table"], args)
    show(errors, search, args)
    tables = {name: {k: v for k, v in r.items() if k != "table"} | {"environment": r["table"].environment}
              for name, r in errors.items()}
    return write_json(args.out, {"config": vars(args), "device": device_description("cpu"), "tables": tables,
                                 "search": search})


if __name__ == "__main__":
    main()
