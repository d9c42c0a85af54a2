"""Latency: direct measurement, the per-op table (prediction, reuse, files), the hard budget, MnasNet's soft
reward and a latency-budgeted search end to end."""
import csv
import json
import math
import random
import statistics

import pytest
import torch
from torch import nn

import supernet as S
from enas.config import validate_values
from enas.search import build_search
from enas.search import loop as search_module
from enas.search.constraints import Constraint
from enas.search.latency import TABLE_FILE, LatencyReward, LatencyTable, measure_latency
from enas.strategies import ENASStrategy
from enas.trials import multi_trial_problems

from conftest import compose_config

FAST = dict(repeats=5, warmup=1)
# the NB201 proxy experiment shrunk to a few CPU steps, its pick by the shared weights
TINY_NB201 = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "trainer.warmup_epochs=0",
              "benchmark=null", "controller.screen_keep=0", "predictor.enabled=false", "derive.select=shared",
              "derive.signals=[shared]", "derive.record=[]", "derive.num_samples=4",
              "latency.repeats=5", "latency.warmup=1", "latency.calibration=3", "latency.check=2"]
HEAVY = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
LIGHT = "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"


def nb201(C=8):
    return S.create_space("nb201", C=C, N=1)


def image(batch=1):
    return torch.randn(batch, 3, 32, 32)


@pytest.fixture(scope="module")
def table():
    torch.manual_seed(0)
    model = nb201()
    return LatencyTable.build(model, image(), {"name": "nb201", "kwargs": {"C": 8, "N": 1}}, calibration=4, **FAST)


def test_measure_latency_is_a_positive_finite_median_in_eval_mode():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
    model.train()
    ms = measure_latency(model, image(), repeats=5, warmup=2)
    assert 0 < ms < 1000 and math.isfinite(ms)
    assert model.training  # its mode is given back
    assert model[1].num_batches_tracked == 0  # the passes ran in eval mode: no statistics were updated
    with pytest.raises(ValueError, match="repeats"):
        measure_latency(model, image(), repeats=0)


def test_the_table_predicts_a_heavy_cell_slower_than_a_light_one_as_measured(table):
    heavy, light = S.from_nb201_string(HEAVY), S.from_nb201_string(LIGHT)
    assert table.predict(heavy) > 1.5 * table.predict(light) > 0
    assert table.measure(heavy) > table.measure(light)
    error = table.check_error(4)
    assert error["children"] == 4 and 0 <= error["median_relative"] <= error["max_relative"]


def test_idle_choices_are_the_edges_a_frozen_nb201_child_does_not_run():
    """The table leaves out what the space says never runs: it must be exactly what the child skips."""
    model, rng = nb201(C=4), random.Random(0)
    for _ in range(30):
        arch = S.random_architecture(model, rng)
        child = S.freeze(model, arch)
        ran = set()
        for i, j in ((i, j) for i in range(1, 4) for j in range(i)):
            child.layers[0].edges[f"{i}_{j}"].register_forward_hook(lambda *_, e=f"node{i}/edge{j}": ran.add(e))
        with torch.no_grad():
            child.eval()(image())
        assert model.idle_choices(arch) == set(arch) - ran


def test_a_table_serves_only_the_setting_it_was_measured_in(table, tmp_path):
    model, x = table.model, image()
    table.check(model, x, {"name": "nb201", "kwargs": {"C": 8, "N": 1}}, 1)  # its own setting
    with pytest.raises(ValueError, match=r"batch_size: 1 -> 4"):
        table.check(model, x, {"name": "nb201", "kwargs": {"C": 8, "N": 1}}, 4)
    with pytest.raises(ValueError, match=r"space: .*'C': 8.* -> .*'C': 16"):
        table.check(model, x, {"name": "nb201", "kwargs": {"C": 16, "N": 1}}, 1)
    table.save(tmp_path / TABLE_FILE)
    with pytest.raises(ValueError, match="built for another network"):  # other choices altogether
        LatencyTable.load(tmp_path / TABLE_FILE, S.create_space("micro", num_layers=1, out_channels=4, num_nodes=2))


def test_save_and_load_give_the_same_predictions(table, tmp_path):
    path = table.save(tmp_path / TABLE_FILE)
    assert not list(tmp_path.glob(".*tmp"))  # written atomically: nothing left beside it
    loaded = LatencyTable.load(path, nb201(), image())
    rng = random.Random(1)
    archs = [S.random_architecture(loaded.model, rng) for _ in range(20)]
    assert [loaded.predict(a) for a in archs] == [table.predict(a) for a in archs]
    assert loaded.environment == table.environment and loaded.environment["threads"] == torch.get_num_threads()
    assert json.loads(path.read_text())["ops"]["layers.0.edges.1_0"]["label"] == "node1/edge0"


def test_a_latency_budget_keeps_only_children_that_fit(table):
    model, rng = table.model, random.Random(0)
    archs = [S.random_architecture(model, rng) for _ in range(200)]
    budget = statistics.median(table.predict(a) for a in archs)
    constraint = Constraint(model, max_latency_ms=budget, latency=table)
    kept = constraint.sample(lambda k: [S.random_architecture(model, rng) for _ in range(k)], 40)
    assert len(kept) == 40 and all(table.predict(a) <= budget for a in kept)
    assert constraint.measure(kept[0])["latency_ms"] == table.predict(kept[0])
    fastest = min(table.predict(a) for a in archs)
    hopeless = Constraint(model, max_latency_ms=fastest / 10, latency=table)
    with pytest.raises(RuntimeError, match=r"latency <= .* ms.*the fastest seen: .* ms.*max_latency_ms"):
        hopeless.sample(lambda k: [S.random_architecture(model, rng) for _ in range(k)], 5, max_rounds=2)
    with pytest.raises(ValueError, match="needs a latency table"):
        Constraint(model, max_latency_ms=1.0)


class FixedLatency:
    """A stand-in table: each architecture's latency is its ``ms`` entry."""

    def predict(self, arch):
        return arch["ms"]


def test_the_soft_reward_is_mnasnets():
    reward = LatencyReward(lambda arch: 0.8, FixedLatency(), target_ms=10.0)
    assert reward({"ms": 10.0}) == pytest.approx(0.8)  # at the target: the raw reward
    slower = reward({"ms": 20.0})
    assert slower == pytest.approx(0.8 * 2 ** -0.07) and slower < 0.8  # slower, equally accurate: less
    assert reward({"ms": 5.0}) > 0.8
    assert reward.adjust({"ms": 20.0}, 0.5) == pytest.approx(0.5 * 2 ** -0.07)

    class Batched:
        def __call__(self, arch):
            return 0.8

        def many(self, archs):
            return [0.8] * len(archs)

    assert not hasattr(reward, "many")
    batched = LatencyReward(Batched(), FixedLatency(), target_ms=10.0)
    assert batched.many([{"ms": 10.0}, {"ms": 20.0}]) == [pytest.approx(0.8), pytest.approx(0.8 * 2 ** -0.07)]


def test_latency_settings_are_checked():
    def problems(*overrides):
        with pytest.raises(ValueError) as refused:
            validate_values(compose_config("search", ["debug=cpu_tiny", *overrides]))
        return str(refused.value)

    assert "constraint.max_latency_ms=-1.0 must be > 0" in problems("constraint.max_latency_ms=-1.0")
    assert "latency.weight=0.07 must be <= 0" in problems("latency.weight=0.07")
    assert "strategy=random has none" in problems("latency.target_ms=5", "strategy=random")
    assert "nothing uses latency" in problems("latency.table=some.json")
    multi_trial = compose_config("search", ["debug=cpu_tiny", "mode=multi_trial", "latency.target_ms=5"])
    assert any("constraint.max_latency_ms" in p for p in multi_trial_problems(multi_trial))


def test_a_latency_budgeted_search_returns_a_child_within_it(tmp_path, monkeypatch):
    """The search reuses a table measured here (latency.table), keeps every candidate within the budget, learns
    from the soft reward and reports the pick's latency, predicted and measured."""
    cfg = compose_config("search", [*TINY_NB201, "latency.report=true"], tmp_path / "table")
    table = build_search(cfg, torch.device("cpu")).latency
    rng = random.Random(0)
    budget = statistics.median(table.predict(S.random_architecture(table.model, rng)) for _ in range(100))
    table.save(tmp_path / "saved.json")
    rewards = []
    real_learn = ENASStrategy.learn

    def spy(self, reward, steps, progress):
        rewards.append(reward)
        return real_learn(self, reward, steps, progress)

    monkeypatch.setattr(ENASStrategy, "learn", spy)
    out = tmp_path / "run"
    result = search_module.search(compose_config("search", [
        *TINY_NB201, f"constraint.max_latency_ms={budget}", f"latency.table={tmp_path / 'saved.json'}",
        f"latency.target_ms={budget}"], out))
    assert result["child_latency_ms"] <= budget and result["child_latency_measured_ms"] > 0
    assert rewards and all(isinstance(r, LatencyReward) for r in rewards)
    rows = list(csv.DictReader(open(out / "derive_candidates.csv")))
    assert rows and all(float(r["latency_ms"]) <= budget for r in rows)
    assert sum(r["selected"] == "1" for r in rows) == 1
    stored = json.loads((out / "architecture.json").read_text())
    assert stored["child"]["latency_ms"] == pytest.approx(result["child_latency_ms"])
    assert stored["latency"]["batch_size"] == 1
    saved = LatencyTable.load(out / TABLE_FILE, table.model)
    assert saved.data["ops"] == table.data["ops"]
    # a resume (or enas-derive) finds the run's own table and builds none
    again = build_search(compose_config("search", [*TINY_NB201, f"constraint.max_latency_ms={budget}"]),
                         torch.device("cpu"), run_folder=out)
    assert again.latency.data == saved.data and again.strategy.constraint.max_latency_ms == budget


def test_a_latency_budgeted_multi_trial_search_trains_only_children_within_it(tmp_path):
    from enas.trials import multi_trial_search

    cfg = compose_config("search", [*TINY_NB201, "latency.report=true"], tmp_path / "table")
    table = build_search(cfg, torch.device("cpu")).latency
    rng = random.Random(1)
    budget = statistics.median(table.predict(S.random_architecture(table.model, rng)) for _ in range(100))
    table.save(tmp_path / "saved.json")
    out = tmp_path / "run"
    result = multi_trial_search(compose_config("search", [
        *TINY_NB201, "mode=multi_trial", "strategy=random", "multi_trial.engine=local", "multi_trial.trials=4",
        "multi_trial.epochs=1", f"constraint.max_latency_ms={budget}", f"latency.table={tmp_path / 'saved.json'}"],
        out))
    rows = list(csv.DictReader(open(out / "derive_candidates.csv")))
    assert len(rows) == 4 and all(float(r["latency_ms"]) <= budget for r in rows)
    assert result["child_latency_ms"] <= budget
