"""benchmarks.nb201_tabular: the table as arrays, the best-by-fitness pick per budget, a short run."""
import json
from pathlib import Path

import numpy as np
import pytest

import supernet as S
from benchmarks import nb201_tabular
from enas.report.benchmark import NB201Table

from conftest import shared_data

SCORES = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "nb201_az_nas_whole_space.json.gz"

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def bench():
    table = NB201Table(str(shared_data("nasbench201", "nb201_accuracies.csv")))
    return nb201_tabular.TabularNB201(table, "cifar10_valid_acc_12ep"), table


def test_arrays_agree_with_the_table_cell_by_cell(bench):
    arrays, table = bench
    for arch_str in [BEST, *list(table.rows)[::997]]:
        code = arrays.code(S.from_nb201_string(arch_str))
        row = table.lookup(arch_str)
        assert arrays.test[code] == row["cifar10_test_acc"] and arrays.arch_index[code] == row["arch_index"]
        assert arrays.fitness[code] == row["cifar10_valid_acc_12ep"]
    assert arrays.test.max() == pytest.approx(94.373333)


def test_the_pick_is_the_fittest_of_the_first_budget_queries(bench):
    arrays, _ = bench
    queried = np.random.default_rng(0).integers(0, len(arrays.fitness), size=(7, 60))
    chosen = nb201_tabular.picks(arrays, queried, [1, 10, 60])
    for seed, row in enumerate(queried):
        for budget in (1, 10, 60):
            best = max(row[:budget], key=lambda c: arrays.fitness[c])  # the first of equally fit cells
            assert chosen[budget][seed] == best


def test_unknown_fitness_column_is_named(bench):
    _, table = bench
    with pytest.raises(KeyError, match="no column 'cifar10_valid_acc_200ep'.*cifar10_valid_acc_12ep"):
        nb201_tabular.TabularNB201(table, "cifar10_valid_acc_200ep")


def test_a_short_run_writes_every_seed_per_strategy_and_budget(tmp_path, capsys):
    folder = shared_data("nasbench201")
    record = nb201_tabular.main(["--nb201", str(folder), "--seeds", "2", "--first-seed", "7", "--budgets", "20", "40",
                                 "--strategies", *nb201_tabular.STRATEGIES, "--out", str(tmp_path / "t.json"),
                                 "--scores", str(SCORES), "--warmup-steps", "2"])
    saved = json.loads((tmp_path / "t.json").read_text())
    assert saved["seeds"] == [7, 8] and set(saved["results"]) == set(nb201_tabular.STRATEGIES)
    for result in record["results"].values():
        at20, at40 = result["budgets"][20], result["budgets"][40]
        assert len(at20["test"]) == 2 and at40["fitness_mean"] >= at20["fitness_mean"]  # more queries never lose
    assert "evolution" in capsys.readouterr().out


def test_a_zero_cost_warm_up_finds_better_cells_in_few_queries(tmp_path):
    folder = shared_data("nasbench201")
    record = nb201_tabular.main(["--nb201", str(folder), "--seeds", "20", "--budgets", "25", "--strategies",
                                 "evolution", "evolution_zc", "--out", str(tmp_path / "t.json"), "--scores", str(SCORES)])
    cold, warm = (record["results"][name]["budgets"][25]["test_mean"] for name in ("evolution", "evolution_zc"))
    assert warm > cold + 0.3  # 50 seeds: 93.84 against 93.25 (docs/results.md)
