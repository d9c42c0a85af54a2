"""Every experiment config composes against its schema, and the proxy benchmark runs end to end."""
import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from enas.config import check_config
from supernet import load_architecture

from enas.search import search
from conftest import CONF, compose_config, shared_data

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
TRAIN_EXPERIMENTS = [e for e in EXPERIMENTS if e.endswith(("_final", "_retrain"))]


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_against_its_schema(experiment):
    if experiment in TRAIN_EXPERIMENTS:
        cfg = compose_config("train", [f"experiment={experiment}", "architecture=a.json"])
    else:
        cfg = compose_config("search", [f"experiment={experiment}"])
        assert cfg.controller.num_aggregate >= 1
    check_config(cfg)
    assert cfg.space.name in ("micro", "macro", "rnn", "nb201")


@pytest.mark.parametrize("search, retrain", [("macro_cpu_proxy", "macro_cpu_proxy_retrain"),
                                             ("ptb_cpu_proxy", "ptb_cpu_proxy_retrain")])
def test_proxy_pairs_search_and_retrain_the_same_network(search, retrain):
    """The short retrain that judges a proxy search must build the network that was searched."""
    searched = compose_config("search", [f"experiment={search}"])
    retrained = compose_config("train", [f"experiment={retrain}", "architecture=a.json"])
    assert searched.space == retrained.space
    assert searched.data.get("train_subset") == retrained.data.get("train_subset")


def test_proxy_vs_random_retrains_the_searched_and_random_architectures(tmp_path):
    tiny = ["data=embedded", "space.num_layers=3", "space.out_channels=8", "trainer.max_steps_per_epoch=2",
            "device=cpu"]
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.proxy_vs_random", "--experiment", "macro_cpu_proxy",
         "--train-experiment", "macro_cpu_proxy_retrain", "--random", "2", "--out", str(tmp_path), *tiny,
         "--search-args", "trainer.epochs=1", "controller.train_steps=1", "controller.num_aggregate=2",
         "derive.num_samples=2", "derive.num_batches=1", "derive.top_k=1", "--train-args", "trainer.epochs=1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "proxy_vs_random.json").read_text())["rows"]
    assert [r["name"] for r in rows] == ["searched", "random0", "random1"]
    assert all(r["metric"] == "test_acc" and 0 <= r["value"] <= 100 for r in rows)
    assert "random mean" in proc.stdout
    # the random architectures are valid members of the searched space, and differ
    searched = json.loads((tmp_path / "search" / "architecture.json").read_text())
    randoms = [json.loads((tmp_path / f"random{i}" / "architecture.json").read_text()) for i in range(2)]
    assert all(r["space"] == searched["space"] for r in randoms)
    assert randoms[0]["architecture"] != randoms[1]["architecture"]
    for i in range(2):
        assert load_architecture(tmp_path / f"random{i}" / "architecture.json")


def test_ranking_of_a_finished_search_shows_where_the_best_cells_place(tmp_path):
    nb201 = shared_data("nasbench201")
    cfg = compose_config("search", ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4",
                                   "trainer.epochs=1", "trainer.warmup_epochs=0",
                                   f"benchmark_file={nb201 / 'nb201_accuracies.csv'}"], tmp_path / "run")
    search(cfg)
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.nb201_ranking", "--nb201", str(nb201), "--checkpoint",
         str(tmp_path / "run"), "--archs", "6", "--device", "cpu", "--out", str(tmp_path / "ranking.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "ranking.json").read_text())["rows"]
    assert [r["sample"] for r in rows] == ["uniform", "policy"]
    assert all(-1 <= r["kendall_loss"] <= 1 and 0 <= r["picked_test_acc"] <= 100 for r in rows)
    assert "their place by shared-weight loss" in proc.stdout


def test_explain_places_the_truly_best_cell_by_its_shared_weight_loss(capsys):
    from benchmarks.nb201_ranking import explain
    from supernet import from_nb201_string

    best, worst = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
                   "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|")

    class Table:  # the best cell by the benchmark gets the highest loss, so it must place last
        def lookup(self, s):
            return {"cifar10_test_acc": {best: 94.37, worst: 10.0}[s]}

    explain(Table(), [from_nb201_string(best), from_nb201_string(worst)], [{"loss": 2.0}, {"loss": 1.0}])
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[3] == "10.00"  # lowest loss first
    assert "benchmark 94.37  place    2" in lines[4]


def test_nb201_report_tells_a_poor_candidate_pool_from_a_poor_final_pick(tmp_path):
    """``benchmarks.nb201 --report``: the best cell derive's policy proposed, how many of its candidates are in the
    top 10%, and the best of the finalists, each looked up in the benchmark."""
    nb201 = shared_data("nasbench201")
    from benchmarks.nb201 import report
    from enas.report.benchmark import NB201Table
    from supernet import from_nb201_string

    best, worst, middling = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
                             "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
                             "|skip_connect~0|+|skip_connect~0|none~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_3x3~2|")
    run = tmp_path / "out" / "enas_seed3"
    run.mkdir(parents=True)
    # best first by shared-weight score, as derive writes it; the truly best cell comes last, past the
    # experiment's 10 finalists, so the pool holds it and the finalists do not
    ranked = [worst, middling] + [worst] * 8 + [best]
    with open(run / "derive_candidates.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "loss", "architecture"])
        writer.writerows([i, 1 + i / 10, json.dumps(from_nb201_string(s))] for i, s in enumerate(ranked))
    (run / "config.yaml").write_text("derive:\n  top_k: 10\n")  # as the search stored it
    (tmp_path / "out" / "nb201_results.json").write_text(json.dumps({
        "experiment": "nb201_cpu_proxy", "overrides": [], "rows": [
            {"method": "enas", "seed": 3, "cell": worst, "test_acc": 10.0, "top_percent": 100.0, "minutes": 1.0}]}))
    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    [row] = report([tmp_path / "out"], table)
    assert row["pool"] == 11 and row["pool_top10"] == 1
    assert row["pool_best"] == table.lookup(best)["cifar10_test_acc"] > 94
    assert row["finalists_best"] == table.lookup(middling)["cifar10_test_acc"]
    with pytest.raises(FileNotFoundError, match="--out folders"):
        report([tmp_path / "nowhere"], table)


def test_nb201_benchmark_runs_each_method_and_tabulates_its_runs(tmp_path):
    """``benchmarks.nb201`` end to end on a tiny budget: one search per method through ``search()``, each looked
    up in the benchmark, and a table that ``--report`` can rebuild from what the run wrote."""
    cifar, nb201 = shared_data("cifar10"), shared_data("nasbench201")
    script = [sys.executable, "-m", "benchmarks.nb201", "--nb201", str(nb201)]
    tiny = ["debug=cpu_tiny", "space.C=4", "trainer.epochs=1", "trainer.warmup_epochs=0", "derive.num_samples=3"]
    proc = subprocess.run([*script, "--cifar", str(cifar), "--methods", "enas", "random", "zero_cost", "--seeds", "5",
                           "--out", str(tmp_path), *tiny, "proxies.space.N=1"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "nb201_results.json").read_text())["rows"]
    assert [(r["method"], r["seed"]) for r in rows] == [("enas", 5), ("random", 5), ("zero_cost", 5)]
    for r in rows:  # ENAS derive adds the greedy cell to its 3 samples (random: 2 uniform); the final pick may
        # be any candidate, not only one of the finalists that shared weights re-scored
        assert 0 < r["test_acc"] <= r["pool_best"] <= 100 and r["finalists_best"] <= r["pool_best"]
        assert 1 <= r["pool"] <= 6  # and derive.uniform_samples=2 more
        # the training-free baseline trained nothing, whatever trainer.epochs the searches got
        assert (r["shared_s"] > 0) == (r["method"] != "zero_cost")
    assert not (tmp_path / "zero_cost_seed5" / "metrics.csv").exists()
    reported = subprocess.run([*script, "--report", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                              timeout=300)
    assert reported.returncode == 0, reported.stderr[-3000:]
    assert "enas     mean" in reported.stdout and "random   mean" in reported.stdout
    assert "zero_cost mean" in reported.stdout
    # the ablation of a training-free run has no rule that needs the (untrained) shared weights
    ablation = subprocess.run([sys.executable, "-m", "benchmarks.analysis", "pick", "--nb201", str(nb201),
                               str(tmp_path / "zero_cost_seed5")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert ablation.returncode == 0, ablation.stderr[-3000:]
    rules = [line.split()[0] for line in ablation.stdout.split("within the candidates):\n", 1)[1].splitlines() if line]
    assert "az_nas" in rules and "params" in rules and not {"shared", "additive", "predictor"} & set(rules)
    assert rows[0]["cell"] in reported.stdout
    # `analysis short-train` replays derive.select=short_train on the same runs, curves cached for a rerun
    replay = [sys.executable, "-m", "benchmarks.analysis", "short-train", "--nb201", str(nb201), str(tmp_path),
              "--finalists", "2", "--epochs", "1", "--train-subset", "64", "--cache", str(tmp_path / "curves.json")]
    first = subprocess.run(replay, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "short_train" in first.stdout and "tau after 1 epoch:" in first.stdout
    again = subprocess.run(replay, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 finalists to train" in again.stdout
    table = lambda out: out.split("\nrun", 1)[1].split("\nover ")[0]  # noqa: E731  (the same picks from the cache)
    assert table(again.stdout) == table(first.stdout)


def test_nb201_pick_replays_final_pick_rules_on_derive_candidates(tmp_path):
    """``analysis pick``: each rule picks among the same candidates derive scored, looked up in the benchmark."""
    nb201 = shared_data("nasbench201")
    from benchmarks._common import run_dirs
    from benchmarks.analysis.pick import replay
    from enas.report.benchmark import NB201Table
    from supernet import from_nb201_string

    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    big = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    skips = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    good = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
    pools = "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"
    run = tmp_path / "out" / "random_seed0"
    run.mkdir(parents=True)
    # best first by shared-weight loss; derive re-scored the first two (its top_k) and kept `skips`
    rows = [(skips, 0.5, 0.30, 0.6), (pools, 0.6, 0.20, 0.7), (good, 0.7, "", ""), (big, 0.8, "", "")]
    with open(run / "derive_candidates.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "loss", "full_score", "full_loss", "architecture"])
        writer.writerows([i, loss, score, full_loss, json.dumps(from_nb201_string(s))]
                         for i, (s, loss, score, full_loss) in enumerate(rows))
    (run / "config.yaml").write_text("derive:\n  top_k: 2\n")
    acc = {s: table.lookup(s)["cifar10_test_acc"] for s in (big, skips, good, pools)}
    result = replay(run, table, oracle_k=[4])
    assert result["derive"] == acc[skips]
    assert result["most_params"] == acc[big]
    twelve = {s: table.lookup(s)["cifar10_valid_acc_12ep"] for s in acc}
    assert result["oracle_12ep@2"] == acc[max((skips, pools), key=twelve.get)]
    assert result["oracle_12ep@4"] == acc[max(acc, key=twelve.get)]
    assert result["additive"] == acc[skips]  # 4 cells, 31 features: the fit interpolates the losses
    assert run_dirs([tmp_path / "out"]) == [run]
    with pytest.raises(FileNotFoundError, match="derive_candidates.csv"):
        run_dirs([tmp_path / "nowhere"])


def test_nb201_full_budget_experiment_runs_as_shipped_for_a_few_steps(tmp_path):
    """``experiment=nb201_enas`` (C=16, N=5, the benchmark's 25k/25k split) runs search, controller and
    derive as shipped; only its length and the validation images are cut for the CPU."""
    cifar, nb201 = shared_data("cifar10"), shared_data("nasbench201")
    cfg = compose_config("search", [
        "experiment=nb201_enas", f"data.root={cifar}", f"data.split_file={nb201 / 'cifar-split.txt'}",
        f"benchmark_file={nb201 / 'nb201_accuracies.csv'}", "trainer.progress=false",
        "trainer.epochs=2", "trainer.warmup_epochs=1", "trainer.max_steps_per_epoch=2", "controller.train_steps=1",
        "controller.num_aggregate=2", "data.valid_subset=1000", "derive.num_samples=3", "derive.num_batches=1",
        "derive.top_k=2"], output_dir=tmp_path)
    assert (cfg.space.C, cfg.space.N, cfg.data.split) == (16, 5, "nb201")
    result = search(cfg)
    assert 0 < result["benchmark_cifar10_test_acc"] <= 100 and 0 < result["benchmark_top_percent"] <= 100
    rows = list(csv.DictReader((tmp_path / "metrics.csv").read_text().splitlines()))
    assert len(rows) == 2 and not rows[0].get("reward") and float(rows[1]["reward"]) > 0  # controller after warm-up
    assert load_architecture(tmp_path / "architecture.json") == result["architecture"]


def test_nb201_pick_ablation_reads_every_signal_and_adds_no_search_baselines(tmp_path):
    """Each signal column of derive_candidates.csv becomes a rule with its tau within the candidates; the
    strategy's and the uniform candidates are also judged apart; --baseline adds the no-search rows."""
    nb201 = shared_data("nasbench201")
    from benchmarks._common import no_search
    from benchmarks.analysis.pick import replay_with_tau
    from enas.report.benchmark import NB201Table
    from supernet import from_nb201_string

    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
             "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
             "|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
             "|avg_pool_3x3~0|+|avg_pool_3x3~0|avg_pool_3x3~1|+|avg_pool_3x3~0|avg_pool_3x3~1|avg_pool_3x3~2|"]
    acc = [table.lookup(c)["cifar10_test_acc"] for c in cells]
    run = tmp_path / "out" / "enas_seed4"
    run.mkdir(parents=True)
    columns = ["rank", "score", "loss", "full_score", "full_loss", "source", "shared", "zico", "params", "combined",
               "az_nas", "selected", "architecture"]
    # shared weights prefer the skips; zico ranks like the benchmark; combined picked cell 2; the last is uniform;
    # az_nas alone prefers cell 2, its rank sum with params (ranks 1+3, 3+4, 4+2, 2+1) cell 0
    rows = [[0, 0.9, 0.1, 0.8, 0.2, "strategy", 0.9, 1, 5, 2, 1, "", cells[1]],
            [1, 0.8, 0.2, 0.7, 0.3, "greedy", 0.8, 4, 9, 1, 3, "", cells[0]],
            [2, 0.7, 0.3, "", "", "strategy", 0.7, 3, 2, 3, 4, 1, cells[2]],
            [3, 0.6, 0.4, "", "", "uniform", 0.6, 2, 1, 0, 2, "", cells[3]]]
    with open(run / "derive_candidates.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerows(r[:-1] + [json.dumps(from_nb201_string(r[-1]))] for r in rows)
    (run / "config.yaml").write_text("seed: 4\nderive:\n  top_k: 2\n  signals: [shared, zico]\n")
    result = replay_with_tau(run, table, oracle_k=[4])
    assert result["derive"][0] == acc[2] and result["shared"][0] == acc[1]
    from enas.predictors.ranking import kendall_tau
    in_rows = [acc[1], acc[0], acc[2], acc[3]]
    assert result["zico"] == (acc[0], pytest.approx(kendall_tau([1, 4, 3, 2], in_rows)))
    assert result["params"][0] == acc[0] and result["combined"][0] == acc[2]
    assert result["az_nas"][0] == acc[2] and result["az_nas_params"][0] == acc[0]
    assert result["combined [strategy]"][0] == acc[0]  # shared and zico, both ranked within the 3 strategy cells
    assert result["shared [uniform]"][0] == acc[3]
    pool = [{"arch_str": c, "acc": a, "zico": z, "params": p} for c, a, z, p in zip(cells, acc, [4, 1, 3, 2], [9, 5, 2, 1])]
    assert no_search(pool, "zico", 4, seed=0)["acc"] == acc[0]
    assert no_search(pool, "params", 1, seed=0)["acc"] in acc
    from benchmarks.analysis.pick import baseline_signals
    assert baseline_signals(pool) == ["zico", "params"]  # AZ-NAS needs its four parts in the pool
    parts = {"expressivity": [4, 1, 3, 2], "progressivity": [4, 1, 2, 3], "trainability": [4, 2, 3, 1],
             "flops": [4, 2, 3, 1]}  # cell 0 (the largest too) best on each part
    pool = [{**row, **{k: v[i] for k, v in parts.items()}} for i, row in enumerate(pool)]
    assert baseline_signals(pool) == ["az_nas", "az_nas_params", "zico", "params"]
    assert no_search(pool, "az_nas", 4, seed=0)["acc"] == no_search(pool, "az_nas_params", 4, seed=0)["acc"] == acc[0]
    # the run's candidates rescored by the file (another seed): the file's AZ-NAS pick, and how the two
    # scorings agree part by part; a file that misses a candidate cannot rescore the run
    from benchmarks.analysis.pick import rescored
    by_arch = {row["arch_str"]: row for row in pool}
    reversed_parts = [{"arch": from_nb201_string(c), **{k: -float(v[i]) for k, v in parts.items()}}
                      for i, c in enumerate(cells)]
    pick, agreement = rescored(reversed_parts + reversed_parts[:1], by_arch)  # a repeated candidate counts once
    assert pick == acc[0]
    assert agreement == {k: pytest.approx(-1.0) for k in parts}
    assert rescored(reversed_parts, {c: by_arch[c] for c in cells[1:]}) is None


def test_zero_cost_whole_space_shards_partition_the_space_and_merge_back(tmp_path):
    """benchmarks.zero_cost --all --shard k/N: the shards split every cell of the space once, in one seeded order;
    --report merges their files, refuses files of different scorings, and adds the combinations only
    when their parts were scored."""
    nb201 = shared_data("nasbench201")
    from benchmarks._common import load_scores, with_combinations
    from benchmarks.zero_cost import cells_to_score, scored_signals
    import supernet as S
    from enas.report.benchmark import NB201Table

    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    model = S.create_space("nb201", C=8, N=1)
    whole = [S.to_nb201_string(a) for a in cells_to_score(table, model, None, seed=3)]
    shards = [[S.to_nb201_string(a) for a in cells_to_score(table, model, None, seed=3, shard=k, shards=3)]
              for k in range(3)]
    assert sorted(whole) == sorted(table.rows) and whole != sorted(table.rows)  # every cell, shuffled
    assert sorted(c for part in shards for c in part) == sorted(whole) and shards[1] == whole[1::3]
    drawn = [S.to_nb201_string(a) for a in cells_to_score(table, model, 50, seed=3)]
    assert 40 < len(drawn) == len(set(drawn)) <= 50 and set(drawn) <= set(table.rows)  # distinct uniform draws
    assert drawn == [S.to_nb201_string(a) for a in cells_to_score(table, model, 50, seed=3)]  # the seed fixes them

    part = {"flops": 1.0, "expressivity": 1.0, "progressivity": 1.0, "trainability": 1.0}
    files = []
    for k, cells in enumerate(shards):
        rows = [{"arch_str": c, "acc": 90.0 + i, "params": float(k * 10 + i), **part} for i, c in enumerate(cells[:3])]
        files.append(tmp_path / f"all_{k}.json")
        files[-1].write_text(json.dumps({"C": 16, "N": 5, "seed": 3, "budget_params": 5.0, "rows": rows,
                                         **({"seconds_per_cell": {"az_nas": 0.7}} if k == 2 else {})}))
    merged = load_scores(files[:2] + files[2:] + files[:1])  # a file given twice counts once
    assert len(merged["rows"]) == 9 and merged["seconds_per_cell"] == {"az_nas": 0.7}
    assert scored_signals(merged["rows"]) == ["params", "flops", "expressivity", "progressivity", "trainability",
                                              "az_nas", "az_nas_params"]
    assert scored_signals([{"params": 1.0, "flops": 2.0}]) == ["params", "flops"]
    combined = with_combinations(merged["rows"])  # the AZ-NAS parts tie: the rank sum follows params alone
    assert max(combined, key=lambda r: r["az_nas_params"])["params"] == 22.0
    packed = tmp_path / "all.json.gz"  # how benchmarks/data ships the whole space
    packed.write_bytes(gzip.compress(json.dumps(merged).encode()))
    assert load_scores([packed])["rows"] == merged["rows"]
    other = tmp_path / "other_seed.json"
    other.write_text(json.dumps({"C": 16, "N": 5, "seed": 4, "rows": []}))
    with pytest.raises(ValueError, match="seed=4"):
        load_scores([files[0], other])


def test_shipped_whole_space_scores_cover_the_benchmark_and_rank_like_the_readme_says():
    """benchmarks/data's AZ-NAS scores: every NB201 cell once, its accuracy as in the table, and the
    whole-space Kendall tau docs/results.md reports (params 0.578, AZ-NAS 0.706)."""
    nb201 = shared_data("nasbench201")
    from benchmarks._common import load_scores, with_combinations
    from enas.report.benchmark import NB201Table
    from enas.predictors.ranking import kendall_tau

    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    saved = load_scores([ROOT / "benchmarks" / "data" / "nb201_az_nas_whole_space.json.gz"])
    rows = with_combinations(saved["rows"])
    assert sorted(r["arch_str"] for r in rows) == sorted(table.rows)
    assert all(r["acc"] == table.lookup(r["arch_str"])["cifar10_test_acc"] for r in rows[:500])
    truth = [r["acc"] for r in rows]
    assert round(kendall_tau([r["params"] for r in rows], truth), 3) == 0.578
    assert round(kendall_tau([r["az_nas"] for r in rows], truth), 3) == 0.706


def test_default_groups_hold_no_second_copy_of_the_schema_defaults():
    """trainer/search.yaml and controller/enas.yaml are the dataclasses' defaults: written once, in
    enas/config.py, so the Python API and the command line cannot drift apart."""
    from dataclasses import asdict
    from omegaconf import OmegaConf
    from enas.config import ControllerConfig, TrainerConfig

    cfg = compose_config("search", ["~experiment"])  # without quickstart: the default groups alone
    assert OmegaConf.to_container(cfg.trainer) == asdict(TrainerConfig())
    assert OmegaConf.to_container(cfg.controller) == asdict(ControllerConfig())
    for group in ("trainer/search.yaml", "controller/enas.yaml"):
        assert not OmegaConf.load(CONF / group), group


def test_every_league_table_method_composes_and_is_checked(monkeypatch):
    """`benchmarks.nb201 --methods ...`: each method's own overrides compose with the proxy experiment and pass
    the value checks (a misspelt key would only fail hours into a league table otherwise)."""
    from enas.config import validate_values

    from benchmarks.nb201 import METHOD_OVERRIDES, collapsed, run_overrides

    for method in METHOD_OVERRIDES:
        overrides = run_overrides(method, "nb201_cpu_proxy_budget", 0, Path("out"), ["trainer.epochs=110"])
        cfg = compose_config("search", [o for o in overrides if not o.startswith("output_dir=")])
        check_config(cfg)
        validate_values(cfg)
        assert cfg.strategy == (method if method != "zero_cost" else "random")
        assert cfg.constraint.max_params == 42930  # the training-free baseline runs under the searches' budget
        # the training-free baseline never trains, even under the searches' own trainer.epochs
        assert cfg.trainer.epochs == (0 if method == "zero_cost" else 110)
        assert (cfg.task_name == "nb201_zero_cost") == (method == "zero_cost")
    assert collapsed("|skip_connect~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|")
    assert not collapsed("|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|skip_connect~0|none~1|none~2|")


def test_policy_pool_draws_from_the_policy_and_lets_az_nas_pick_among_the_distinct_cells(tmp_path):
    """`analysis policy-pool` (no table needed here): a one-hot policy draws one cell however many times it
    draws, and AZ-NAS's pick among it is that cell; a high temperature spreads the same policy over many
    cells; average ranks agree with enas.predictors.ranking.ranks (ties, -inf as the worst)."""
    import numpy as np
    from benchmarks._common import average_ranks, load_scores
    from benchmarks.analysis.policy_pool import ScoredSpace, compare
    from enas.predictors.ranking import ranks
    from supernet import from_nb201_string

    values = [3.0, -np.inf, 1.0, 3.0, 2.0, 1.0]
    assert average_ranks(np.array(values)).tolist() == ranks([float("nan") if v == -np.inf else v for v in values])
    space = ScoredSpace(load_scores([ROOT / "benchmarks" / "data" / "nb201_az_nas_whole_space.json.gz"])["rows"])
    cell = "|nor_conv_3x3~0|+|nor_conv_3x3~0|skip_connect~1|+|nor_conv_1x1~0|nor_conv_3x3~1|avg_pool_3x3~2|"
    arch = from_nb201_string(cell)
    options = {label: ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"] for label in arch}
    probs = {label: [float(op == arch[label]) + 1e-3 for op in options[label]] for label in arch}
    rng = np.random.default_rng(0)
    rows = space.draw(probs, options, 200, 0.01, rng)  # T -> 0: the mode only
    assert len(set(rows.tolist())) == 1 and space.az_nas_pick(rows) == space.acc[rows[0]]
    assert len(np.unique(space.draw(probs, options, 2000, 10.0, rng))) > 500  # T large: nearly uniform
    run = tmp_path / "run"
    run.mkdir()
    (run / "policy.jsonl").write_text(json.dumps(
        {"epoch": 0, "decisions": {k: {"options": options[k], "probs": probs[k]} for k in arch}}) + "\n")
    results = compare(space, [run], draws=[50], temperatures=[0.01, 5], reps=3, seed=0)
    assert set(results) == {"T=0.01 N=50", "T=5 N=50", "uniform N=50"}
    assert results["T=0.01 N=50"] == [space.acc[rows[0]]] * 3 and all(len(v) == 3 for v in results.values())


def test_proxy_seeds_averages_each_parts_ranks_and_compares_at_equal_cost():
    """Two scorings' mean ranks outvote one seed's outlier; the same-cost rule scores half the pool."""
    from benchmarks._common import az_nas_pick, paired_scores
    from benchmarks.analysis.proxy_seeds import compare

    acc = np.arange(8, dtype=np.float64)  # cell i's benchmark accuracy is i: cell 7 is the best
    truthful = np.repeat(acc[:, None], 4, axis=1)
    noisy = truthful.copy()
    noisy[0] = 100.0  # one seed rates the worst cell best on every part
    pool = np.arange(8)
    assert az_nas_pick([noisy], pool) == 0 and az_nas_pick([truthful], pool) == 7
    assert az_nas_pick([noisy, truthful], pool) == 7  # mean ranks: cell 7 (7.5) above cell 0 (4.5)
    results = compare(acc, noisy, truthful, sizes=[8], pools=3)
    assert sorted(results["one seed, N=8"]) == [0.0] * 3 + [7.0] * 3  # each seed's pick, once per pool
    assert results["two seeds, N=8 (twice the cost)"] == [7.0] * 3
    assert len(results["two seeds, N=4 (same cost)"]) == 3  # half the cells, both scorings
    with pytest.raises(ValueError, match="pools of 9 cells from 8"):
        compare(acc, noisy, truthful, sizes=[9], pools=1)
    row = lambda cell, value: {"arch_str": cell, "acc": 1.0, **{n: value for n in
                                                               ("expressivity", "progressivity", "trainability", "flops")}}
    with pytest.raises(ValueError, match="1 cells of the second scoring are not in the first"):
        paired_scores([row("a", 1.0)], [row("a", 2.0), row("b", 3.0)])
    got_acc, first, second = paired_scores([row("b", 5.0), row("a", 1.0)], [row("a", 2.0)])
    assert first.tolist() == [[1.0] * 4] and second.tolist() == [[2.0] * 4]  # paired in the second's order


def test_trained_proxies_score_the_candidates_on_the_trained_supernet_and_on_a_fresh_one(tmp_path):
    """`analysis trained-proxies`: the `trained` set reads the run's checkpoint (training changes the scores),
    `init` is a fresh network of the same size (deterministic for the run's seed), `shipped` is what derive
    recorded; each set's pick is the argmax of AZ-NAS's log-rank sum, and its tau is against the truth given."""
    from benchmarks._common import distinct_candidates as unique_candidates
    from benchmarks.analysis.trained_proxies import PARTS, measure, score_sets

    search(compose_config("search", ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4",
                                     "proxies.space.C=4", "proxies.space.N=1", "benchmark=null",
                                     "trainer.warmup_epochs=1", "derive.num_samples=6", "derive.uniform_samples=4"],
                          tmp_path))
    cands = unique_candidates(tmp_path)
    assert len({json.dumps(c["arch"], sort_keys=True) for c in cands}) == len(cands) >= 2
    sets = score_sets(tmp_path, cands)
    assert sets["shipped"] == [{n: c[n] for n in (*PARTS, "flops")} for c in cands]
    assert score_sets(tmp_path, cands)["init"] == sets["init"]  # the run's seed fixes the fresh network
    assert any(t["expressivity"] != i["expressivity"] for t, i in zip(sets["trained"], sets["init"]))
    rows = [{"expressivity": v, "progressivity": v, "trainability": v, "flops": v} for v in (1.0, 3.0, 2.0)]
    got = measure({"some": rows}, truth=[90.0, 94.0, 92.0])
    assert got["some"]["pick"] == 94.0 and got["some"]["tau"] == pytest.approx(1.0)
    assert measure({"some": rows}, truth=[92.0, 94.0, 90.0])["some"]["tau"] == pytest.approx(1 / 3)  # 2 of 3 pairs


def test_proxy_size_gives_the_cheaper_network_more_cells_at_the_same_cost():
    """`analysis proxy-size`: the small network's pool is the large one's scaled by the cost ratio (at most the
    space), drawn as a superset of the same permutation, so with truthful scores its pick is never worse."""
    from benchmarks.analysis.proxy_size import compare, seconds_per_cell

    acc = np.arange(8, dtype=np.float64)  # cell i's benchmark accuracy is i
    truthful = np.repeat(acc[:, None], 4, axis=1)
    inverted = -truthful  # a network whose ranking is upside down
    results = compare(acc, truthful, inverted, sizes=[2, 6], ratio=2.0, pools=5)
    assert set(results) == {"large, N=2", "small, N=4 (same cost)", "small, N=2 (same cells' count)",
                            "large, N=6", "small, N=8 (same cost)", "small, N=6 (same cells' count)"}
    assert results["small, N=8 (same cost)"] == [0.0] * 5  # the whole space, ranked upside down: the worst cell
    assert all(a >= b for a, b in zip(results["large, N=6"], results["small, N=6 (same cells' count)"]))
    better = compare(acc, inverted, truthful, sizes=[2], ratio=2.0, pools=5)
    assert all(s >= l for s, l in zip(better["small, N=4 (same cost)"], better["large, N=2"]))
    with pytest.raises(ValueError, match="pools of 9 cells from 8"):
        compare(acc, truthful, truthful, sizes=[9], ratio=1.0, pools=1)
    assert seconds_per_cell({"seconds_per_cell": {"az_nas": 0.62}}, {}, "large") == 0.62
    assert seconds_per_cell({}, {"small": 0.1}, "small") == 0.1
    with pytest.raises(ValueError, match="pass --cost small=SECONDS"):
        seconds_per_cell({}, {}, "small")


def test_finalists_ranks_az_nas_best_few_by_each_signal_and_reads_runs_the_same_way(tmp_path):
    """`analysis finalists`: the finalists are AZ-NAS's K best of each pool; a perfect signal picks the best of
    them with tau 1, AZ-NAS's first choice is its own top; within a run, only AZ-NAS's K best candidates
    (each distinct cell once) are ranked by the shared-weight score, params and the 12-epoch column."""
    from benchmarks.analysis.finalists import finalist_picks, run_finalists

    acc = np.arange(10, dtype=np.float64)
    parts = np.repeat(-acc[:, None], 4, axis=1)  # AZ-NAS ranks the space upside down: its finalists are the worst
    got = finalist_picks(acc, twelve=acc.copy(), parts=parts, top5=9.0, sizes=[10], finalists=[3], noise=[1e-9],
                         pools=2)
    assert [p[0] for p in got["N=10 az_nas"]] == [0.0, 0.0]
    assert [p[:2] for p in got["N=10 K=3 best"]] == [(2.0, 1.0)] * 2  # the best of {0, 1, 2}
    assert [p[:2] for p in got["N=10 K=3 12ep"]] == [(2.0, pytest.approx(1.0))] * 2
    assert [p[0] for p in got["N=10 K=3 noise 1e-09"]] == [2.0, 2.0]
    with pytest.raises(ValueError, match="pools of 11 cells from 10"):
        finalist_picks(acc, acc, parts, 9.0, sizes=[11], finalists=[3], noise=[], pools=1)

    nb201 = shared_data("nasbench201")
    from enas.report.benchmark import NB201Table
    from supernet import from_nb201_string

    table = NB201Table(str(nb201 / "nb201_accuracies.csv"))
    cells = ["|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|",
             "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|",
             "|nor_conv_1x1~0|+|none~0|none~1|+|nor_conv_1x1~0|none~1|none~2|"]
    run = tmp_path / "enas_seed0"
    run.mkdir()
    # AZ-NAS's parts (all equal here) rank cell 0 first, then cell 1; the shared weights prefer cell 1;
    # cell 0 appears twice (its second row, with other scores, must be ignored); cell 2 is AZ-NAS's worst
    rows = [(cells[1], 0.9, 2.0, 5.0), (cells[0], 0.5, 3.0, 9.0), (cells[0], 0.99, 0.0, 1.0), (cells[2], 0.1, 1.0, 1.0)]
    with open(run / "derive_candidates.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "score", "loss", "expressivity", "progressivity", "trainability", "flops", "params",
                         "architecture"])
        writer.writerows([i, score, 1 - score, az, az, az, az, params, json.dumps(from_nb201_string(c))]
                         for i, (c, score, az, params) in enumerate(rows))
    (run / "config.yaml").write_text("derive:\n  top_k: 2\n")
    acc = {c: table.lookup(c)["cifar10_test_acc"] for c in cells}
    got = run_finalists(run, table, finalists=[2])
    assert got["az_nas"][0][0] == acc[cells[0]]
    assert got["K=2 shared"][0][0] == acc[cells[1]]
    assert got["K=2 params"][0][0] == acc[cells[0]]
    assert got["K=2 shared"][0][1] == pytest.approx(-1.0 if acc[cells[0]] > acc[cells[1]] else 1.0)
    assert got["az_nas"][0][2] == table.quantile(5)  # no budget: the whole space's top 5%


def test_benchmarks_is_a_package_whose_scripts_import_no_analysis():
    """Scripts run as modules (``python -m benchmarks.<name>``): no sys.path edits, and a reproduction script
    takes shared helpers from `benchmarks._common`, never from an analysis."""
    for path in (ROOT / "benchmarks").rglob("*.py"):
        text = path.read_text()
        assert "sys.path" not in text, path
        if path.parent.name == "benchmarks":
            assert "from benchmarks.analysis" not in text and "from .analysis" not in text, path


def test_analysis_entry_point_dispatches_every_subcommand(capsys):
    """``python -m benchmarks.analysis <subcommand>``: one subcommand per analysis, each with its --help."""
    from benchmarks.analysis.__main__ import SUBCOMMANDS, main

    assert list(SUBCOMMANDS) == ["pick", "policy-pool", "proxy-seeds", "proxy-size", "trained-proxies", "finalists",
                                 "short-train", "preferred"]
    for argv in (["--help"], *([name, "--help"] for name in SUBCOMMANDS)):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 0, argv
    assert "--nb201" in capsys.readouterr().out
    with pytest.raises(SystemExit) as done:
        main(["pick", "run", "--cost", "az_nas"])  # name=seconds, not a name alone
    assert done.value.code == 2 and "takes name=seconds" in capsys.readouterr().err


def test_score_file_analyses_run_end_to_end_on_the_shipped_scores(tmp_path, capsys):
    """`finalists`, `proxy-seeds`, `proxy-size` and `policy-pool` through the entry point, on the shipped
    whole-space scores and small score files cut from it: each prints one line per rule."""
    nb201 = shared_data("nasbench201")
    from benchmarks._common import SHIPPED, load_scores
    from benchmarks.analysis.__main__ import main
    from supernet import from_nb201_string

    saved = load_scores([SHIPPED])
    for name, scoring in (("seed1", {"seed": 1}), ("small", {"C": 8, "N": 1, "seconds_per_cell": {"az_nas": 0.1}})):
        (tmp_path / f"{name}.json").write_text(json.dumps({**saved, "rows": saved["rows"][:300], **scoring}))
    main(["finalists", "--nb201", str(nb201), "--sizes", "100", "--finalists", "4", "--noise", "0.2", "--pools", "3"])
    out = capsys.readouterr().out
    assert all(f"N=100 {rule}" in out for rule in ("az_nas", "K=4 12ep", "K=4 noise 0.2", "K=4 best"))
    main(["proxy-seeds", "--nb201", str(nb201), "--second", str(tmp_path / "seed1.json"), "--sizes", "100",
          "--pools", "3"])
    out = capsys.readouterr().out
    assert "seeds 0 and 1 among 300 cells" in out and "two seeds, N=50 (same cost)" in out
    main(["proxy-size", "--nb201", str(nb201), "--small", str(tmp_path / "small.json"), "--cost", "large=0.2",
          "--sizes", "100", "--pools", "3"])
    out = capsys.readouterr().out
    assert "2.0 cells in the time of one" in out and "small, N=200 (same cost)" in out
    run = tmp_path / "runs" / "enas_seed0"
    run.mkdir(parents=True)
    (run / "derive_candidates.csv").write_text("rank,architecture\n")
    options = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
    labels = sorted(from_nb201_string(saved["rows"][0]["arch_str"]))
    (run / "policy.jsonl").write_text(json.dumps(
        {"decisions": {label: {"options": options, "probs": [0.2] * 5} for label in labels}}) + "\n")
    main(["policy-pool", "--nb201", str(nb201), str(tmp_path / "runs"), "--draws", "50", "--temperatures", "1",
          "--reps", "2"])
    out = capsys.readouterr().out
    assert "(1 runs x 2 pools" in out and "T=1 N=50" in out and "uniform N=50" in out
