"""NAS-Bench-201: the space, arch strings, the benchmark table, and a controller check without training."""
import statistics

import pytest
import torch

import supernet as S
from enas import Controller, EMABaseline, controller_step
from enas.report.benchmark import NB201Table, lookup_benchmark

from conftest import nb201_table_reward, shared_data

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def table():
    return NB201Table(str(shared_data("nasbench201", "nb201_accuracies.csv")))


def test_decisions_are_the_six_edges_of_the_benchmark_cell():
    decs = S.decisions(S.create_space("nb201", C=4, N=1))
    assert [d.label for d in decs] == ["node1/edge0", "node2/edge0", "node2/edge1", "node3/edge0", "node3/edge1",
                                       "node3/edge2"]
    assert all(d.options == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3") for d in decs)
    assert S.count_architectures(decs) == 15625


def test_arch_string_round_trip_and_errors():
    arch = S.from_nb201_string(BEST)
    assert arch["node3/edge0"] == "skip_connect" and S.to_nb201_string(arch) == BEST
    with pytest.raises(ValueError, match="bad edge"):
        S.from_nb201_string(BEST.replace("nor_conv_1x1~2", "conv_7x7~2"))
    with pytest.raises(ValueError, match="3 '\\+'-separated"):
        S.from_nb201_string("|nor_conv_3x3~0|")


def test_network_skeleton_follows_the_benchmark():
    model = S.create_space("nb201", C=16, N=5)
    kinds = [type(m).__name__ for m in model.layers]
    assert kinds == ["Cell"] * 5 + ["ResidualReduction"] + ["Cell"] * 5 + ["ResidualReduction"] + ["Cell"] * 5
    assert model.classifier.in_features == 64


def test_none_edges_and_dead_nodes_are_not_computed():
    model = S.create_space("nb201", C=4, N=1)
    arch = S.from_nb201_string("|none~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|avg_pool_3x3~1|nor_conv_1x1~2|")
    S.activate(model, arch)
    cell = model.layers[0]
    ran = []
    for key, edge in cell.edges.items():
        for name in edge.names:
            edge[name].register_forward_hook(lambda m, i, o, tag=(key, name): ran.append(tag))
    out = cell(torch.randn(2, 4, 8, 8))
    # node1 receives only `none`, so it is zero: 2_1 (conv of zero, BN without affine) and 3_1 (pool) are skipped
    assert sorted(ran) == [("2_0", "nor_conv_3x3"), ("3_2", "nor_conv_1x1")]
    child = S.freeze(model, arch)
    torch.testing.assert_close(child.layers[0](torch.ones(2, 4, 8, 8)), cell(torch.ones(2, 4, 8, 8)))


def test_disconnected_cell_outputs_zeros():
    model = S.create_space("nb201", C=4, N=1)
    S.activate(model, S.from_nb201_string("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"))
    assert torch.count_nonzero(model.layers[0](torch.randn(2, 4, 8, 8))) == 0


def test_table_lookup_and_ranks(table):
    assert len(table) == 15625
    best = table.describe(S.from_nb201_string(BEST))
    assert best["cifar10_test_acc"] == pytest.approx(94.373333) and best["arch_index"] == 6111
    assert best["top_percent"] <= 0.02
    assert table.quantile(10) == pytest.approx(92.93, abs=0.02)  # the paper's top-10% threshold
    assert table.quantile(1) == pytest.approx(93.78, abs=0.02)
    skip = table.describe(S.from_nb201_string("|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|"
                                              "skip_connect~1|skip_connect~2|"))
    assert skip["cifar10_test_acc"] == pytest.approx(54.30, abs=0.01)  # DARTS' collapse
    assert lookup_benchmark("nb201", None, S.from_nb201_string(BEST), str(table.path))["arch_index"] == 6111


def test_missing_table_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NB201_CSV", raising=False)
    with pytest.raises(FileNotFoundError, match="nb201_accuracies.csv.*benchmark_file"):
        NB201Table()


def test_controller_learns_from_table_rewards_alone(table):
    """REINFORCE with the 12-epoch validation accuracy as reward (a lookup, nothing trained).

    The mean reward must rise, and the best cell found in 500 samples must be in the top 1% by
    200-epoch test accuracy for most seeds.
    """
    decs = S.decisions(S.create_space("nb201", C=4, N=1))
    tops = []
    for seed in range(3):
        torch.manual_seed(seed)
        controller = Controller(decs, lstm_size=32, temperature=5.0, tanh_constant=2.5, op_tanh_reduce=1.0)
        optimizer = torch.optim.Adam(controller.parameters(), lr=0.05, betas=(0.0, 0.999), eps=1e-3)
        baseline = EMABaseline(0.95)
        reward, seen = nb201_table_reward(table)

        while len(seen) < 500:
            controller_step(controller, optimizer, baseline, reward, num_archs=10, entropy_weight=1e-4)
        first, last = statistics.mean(v for v, _ in seen[:50]), statistics.mean(v for v, _ in seen[-50:])
        assert last > first + 5.0, (seed, first, last)  # percentage points of 12-epoch accuracy
        tops.append(table.top_percent(max(seen)[1]))
    assert sum(t <= 1.0 for t in tops) >= 2, tops


def test_budget_experiment_allows_exactly_the_parameters_of_a_two_conv_cell():
    """nb201_cpu_proxy_budget: the parameters of a cell with two nor_conv_3x3 and no nor_conv_1x1, at the
    searched size; cells with a third conv (of any kind) exceed it."""
    from conftest import compose_config
    from enas.predictors.zero_cost import child_parameters

    cfg = compose_config("search", ["experiment=nb201_cpu_proxy_budget"])
    model = S.create_space("nb201", C=cfg.space.C, N=cfg.space.N)
    two_convs = S.from_nb201_string("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|")
    assert cfg.constraint.max_params == child_parameters(model, two_convs)
    three = S.from_nb201_string("|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|")
    assert child_parameters(model, three) > cfg.constraint.max_params


def test_budgeted_subspace_percentiles(table):
    """The budget of nb201_cpu_proxy_budget admits 11,455 cells, best 93.91, top 5% from 92.47."""
    from enas.search.constraints import Constraint

    model = S.create_space("nb201", C=8, N=1)
    constraint = Constraint(model, max_params=42930)
    values = table.within_budget(constraint)
    assert len(values) == 11455 and values[-1] == pytest.approx(93.91, abs=0.01)
    assert table.quantile(5, values=values) == pytest.approx(92.47, abs=0.01)
    assert table.top_percent(93.91, values=values) < 0.01
