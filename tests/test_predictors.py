"""Zero-cost proxies, rank combinations, the learned predictor, budgets and successive halving."""
import math
import random

import pytest
import torch
from torch import nn

import supernet as S
from enas.search.constraints import Constraint, measure_child
from enas.predictors import PROXIES, ZeroCostScorer, feature_blocks
from enas.predictors.ranking import kendall_tau, log_rank_sum, rank_sum, ranks
from enas.predictors.surrogate import Surrogate, encode
from enas.predictors.zero_cost import child_parameters, fresh_copy


def nb201(**kw):
    return S.create_space("nb201", C=kw.get("C", 4), N=kw.get("N", 1))


def image_batches(n=2, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 3, 16, 16, generator=g), torch.randint(0, 10, (size,), generator=g)) for _ in range(n)]


def ce_loss(model, batch):
    x, y = batch
    return nn.functional.cross_entropy(model(x), y)


def scorer(names=PROXIES, seed=0, batches=None):
    return ZeroCostScorer(nb201, batches or image_batches(), ce_loss, names=names, seed=seed)


def some_archs(model, n, seed=0):
    rng = random.Random(seed)
    return [S.random_architecture(model, rng) for _ in range(n)]


# --------------------------------------------------------------------------------------------- #
def test_proxies_are_deterministic_for_a_seed_and_change_with_it():
    a, b, c = scorer(seed=0), scorer(seed=0), scorer(seed=1)
    arch = S.from_nb201_string("|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|nor_conv_3x3~1|"
                               "avg_pool_3x3~2|")
    first, again, other = a.score(arch), b.score(arch), c.score(arch)
    assert set(first) == set(PROXIES) and all(math.isfinite(v) for v in first.values())
    assert first == again
    assert first["zico"] != other["zico"] and first["params"] == other["params"]


def test_shared_pass_gives_what_each_proxy_computed_alone_gives():
    arch = some_archs(nb201(), 1, seed=3)[0]
    together = scorer().score(arch)
    for name in PROXIES:
        alone = scorer(names=[name]).score(arch)[name]
        assert alone == pytest.approx(together[name], rel=1e-5, abs=1e-6), name


def test_only_the_active_path_counts():
    """Weights of candidates the architecture does not use change no proxy."""
    s = scorer()
    arch = S.from_nb201_string("|nor_conv_3x3~0|+|skip_connect~0|none~1|+|skip_connect~0|nor_conv_3x3~1|none~2|")
    before = s.score(arch)
    with torch.no_grad():
        for cell in [m for m in s.model.modules() if isinstance(m, S.LayerChoice)]:
            for name in cell.names:
                if name != cell.active_name:
                    for p in cell[name].parameters():
                        p.mul_(3.0).add_(1.0)
    s._cache.clear()
    s._synflow_model = None
    assert s.score(arch) == pytest.approx(before, rel=1e-6)


def test_params_and_flops_match_the_standalone_child():
    model = nb201(C=4)
    for arch in some_archs(model, 4, seed=5):
        assert child_parameters(model, arch) == S.count_parameters(S.freeze(model, arch))
    # every built-in space, the micro cell among them (its frozen() drops the loose-end projection's weights)
    for name, kwargs in [("micro", {"num_layers": 1, "out_channels": 8, "num_nodes": 3}),
                         ("macro", {"num_layers": 4, "out_channels": 8}),
                         ("rnn", {"vocab_size": 50, "hidden": 16, "num_nodes": 4})]:
        space = S.create_space(name, **kwargs)
        for seed in range(4):
            arch = S.random_architecture(space, random.Random(seed))
            assert child_parameters(space, arch) == S.count_parameters(S.freeze(space, arch)), (name, arch)
    # a linear layer: in_features * out_features multiply-accumulates per example
    toy = nn.Sequential(nn.Flatten(), S.LayerChoice({"small": nn.Linear(12, 2), "big": nn.Linear(12, 7)}, label="fc"))
    measured = measure_child(toy, {"fc": "big"}, torch.randn(1, 3, 2, 2))
    assert measured == {"params": 12 * 7 + 7, "flops": 12 * 7}


def test_proxies_rank_a_deep_conv_cell_above_an_empty_one():
    s = scorer()
    conv = s.score(S.from_nb201_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|"
                                       "nor_conv_3x3~1|nor_conv_3x3~2|"))
    empty = s.score(S.from_nb201_string("|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"))
    for name in ("params", "flops", "grad_norm", "snip", "synflow", "zico"):
        assert conv[name] > empty[name], name


def test_feature_blocks_found_in_every_image_space():
    assert len(feature_blocks(nb201(N=1))) == 5  # 3 cells and 2 residual reductions
    assert feature_blocks(S.create_space("micro", num_layers=1, out_channels=8, num_nodes=2))
    assert feature_blocks(S.create_space("macro", num_layers=3, out_channels=8))


def test_bad_proxy_requests_fail_clearly():
    with pytest.raises(KeyError, match="unknown zero-cost proxy 'zicoo'"):
        scorer(names=["zicoo"])
    with pytest.raises(ValueError, match="two minibatches"):
        scorer(names=["zico"], batches=image_batches(1))


def test_fresh_copy_reinitialises_a_trained_model():
    model = nb201()
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(0.5)
    copy = fresh_copy(model)
    assert not torch.equal(next(copy.parameters()), next(model.parameters()))


# --------------------------------------------------------------------------------------------- #
def test_ranks_and_rank_correlations():
    assert ranks([3.0, 1.0, 2.0, 2.0]) == [4.0, 1.0, 2.5, 2.5]
    assert ranks([float("nan"), 1.0]) == [1.0, 2.0]
    assert kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0 and kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6 ** 0.5)  # tau-b: a tie in x shrinks it
    assert kendall_tau([1, 2, 3, 4], [1, 2, float("nan"), 4]) == 1.0  # pairs with a NaN count nowhere


def test_log_rank_sum_punishes_one_bad_signal_more_than_a_plain_rank_sum():
    rows = [{"a": 3, "b": 1}, {"a": 2, "b": 2}, {"a": 1, "b": 3}]
    assert rank_sum(rows, ["a", "b"])[0] == rank_sum(rows, ["a", "b"])[1]
    combined = log_rank_sum(rows, ["a", "b"])
    assert combined[1] > combined[0] and combined[1] > combined[2]  # good on both beats best-and-worst
    with pytest.raises(KeyError, match="'c'"):
        log_rank_sum(rows, ["c"])


# --------------------------------------------------------------------------------------------- #
def synthetic_target(arch):
    """A reward that the encoding explains: ops are worth different amounts, per edge."""
    worth = {"none": 0.0, "skip_connect": 0.2, "nor_conv_1x1": 0.5, "nor_conv_3x3": 0.9, "avg_pool_3x3": 0.1}
    return sum(worth[v] * (1 + i % 2) for i, v in enumerate(arch.values()))


def test_surrogate_learns_the_encoding_and_reports_held_out_error():
    decs = S.decisions(nb201())
    model = nb201()
    surrogate = Surrogate(decs, steps=200, seed=0)
    for arch in some_archs(model, 150, seed=1):
        surrogate.add(arch, synthetic_target(arch))
    report = surrogate.fit()
    assert report["predictor_points"] == 150 and report["predictor_tau"] > 0.7
    test = some_archs(model, 60, seed=2)
    mean, spread = surrogate.predict(test)
    assert kendall_tau(mean, [synthetic_target(a) for a in test]) > 0.7
    assert all(s >= 0 for s in spread)
    # the same data give the same model; the state round-trips
    again = Surrogate(decs, steps=200, seed=0)
    again.points = list(surrogate.points)
    again.fit()
    assert again.predict(test)[0] == pytest.approx(mean, abs=1e-6)
    restored = Surrogate(decs, steps=200, seed=0)
    restored.load_state_dict(surrogate.state_dict())
    assert restored.predict(test)[0] == pytest.approx(mean, abs=1e-6)


def test_encoding_is_one_hot_per_layer_and_multi_hot_per_input_decision():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.op = S.LayerChoice({"a": nn.Identity(), "b": nn.Identity()}, label="n/op")
            self.inp = S.InputChoice(3, None, label="n/skip")
    assert encode(S.decisions(Toy()), {"n/op": "b", "n/skip": [0, 2]}) == [0, 1, 1, 0, 1]


# --------------------------------------------------------------------------------------------- #
def test_constraint_sampling_keeps_every_architecture_within_the_budget():
    model = nb201()
    budget = child_parameters(model, S.from_nb201_string(
        "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"))
    constraint = Constraint(model, max_params=budget)
    rng = random.Random(0)
    archs = constraint.sample(lambda k: [S.random_architecture(model, rng) for _ in range(k)], 50)
    assert len(archs) == 50 and all(child_parameters(model, a) <= budget for a in archs)
    assert not constraint.feasible(S.from_nb201_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|"
                                                       "nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"))
    tiny = Constraint(model, max_params=10)
    with pytest.raises(RuntimeError, match="admitted 0 of") as refused:
        tiny.sample(lambda k: [S.random_architecture(model, rng) for _ in range(k)], 5, max_rounds=3)
    # the message says where a budget could start: the smallest child it measured
    smallest = min(m["params"] for m in tiny._cache.values())
    assert f"the fewest parameters seen: {smallest:,.0f}" in str(refused.value) and smallest > 10
    with pytest.raises(ValueError, match="max_flops needs an example"):
        Constraint(model, max_flops=1e6)
