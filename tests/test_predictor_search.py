"""The predictors at work in a search: screening, strategy=predictor, derive.select, budgets, early stopping."""
import csv
import json
import random

import pytest
import torch

import supernet as S
from enas.config import PredictorConfig
from enas.runs import Progress
from enas.search import loop as search_module
from enas.strategies import PredictorStrategy
from enas.predictors.performance import PerformancePredictor
from enas.predictors.surrogate import Surrogate
from enas.predictors.zero_cost import child_parameters
from enas import SimpleTask, search_model
from enas.search import retrain
from enas.tasks import ImageClassification
from enas.search import search

from conftest import TINY_MICRO, TINY_SEARCH, compose_config, straight_and_resumed

# the NB201 proxy experiment, shrunk: its own settings (combined pick, screening) are overridden per test
TINY_NB201 = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "proxies.space.C=4",
              "proxies.space.N=1", "trainer.warmup_epochs=0", "benchmark=null", "controller.screen_keep=0",
              "predictor.enabled=false", "derive.select=shared", "derive.signals=[shared]", "derive.record=[]",
              "derive.num_samples=4"]
RESNET_CELL = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def run(out, *overrides, base=TINY_NB201):
    return search(compose_config("search", [*base, *overrides], out))


def rows(path, name="metrics.csv"):
    return list(csv.DictReader(open(path / name)))


def test_screening_evaluates_only_what_the_predictor_keeps(tmp_path):
    """Once the predictor has its points, each controller update evaluates screen_keep of its samples;
    the predictor refits every epoch and reports its held-out error; phase times are logged."""
    run(tmp_path, "trainer.epochs=3", "controller.train_steps=6", "controller.num_aggregate=5",
        "controller.screen_keep=1", "predictor.enabled=true", "predictor.min_points=10", "predictor.steps=20")
    metrics = rows(tmp_path)
    # 6 updates x 5 samples: all evaluated until the predictor has its 10 points (after 2 updates), then 1 each
    assert [float(r["rewards_evaluated"]) for r in metrics] == [14, 6, 6]
    assert all(float(r["shared_seconds"]) > 0 and float(r["controller_seconds"]) > 0 for r in metrics)
    assert float(metrics[-1]["predictor_points"]) == 26 and -1 <= float(metrics[-1]["predictor_tau"]) <= 1


def test_screening_needs_the_predictor(tmp_path):
    with pytest.raises(ValueError, match="predictor.enabled=true"):
        run(tmp_path, "controller.screen_keep=1", "predictor.enabled=false")


@pytest.mark.parametrize("select", ["combined", "predictor", "zico", "az_nas", "shared"])
def test_derive_select_rules_pick_a_candidate_and_record_every_signal(tmp_path, select):
    result = run(tmp_path, "predictor.enabled=true", "predictor.min_points=2", "predictor.steps=10",
                 f"derive.select={select}", "derive.signals=[shared,expressivity,progressivity,trainability,flops]",
                 "derive.record=[params,zico,synflow,naswot,az_nas,predictor,combined]", "derive.num_samples=6")
    cands = rows(tmp_path, "derive_candidates.csv")
    for column in ("shared", "params", "zico", "synflow", "naswot", "az_nas", "predictor", "expressivity", "combined"):
        assert all(c[column] != "" for c in cands), column
    [chosen] = [c for c in cands if c["selected"] == "1"]
    assert json.loads(chosen["architecture"]) == result["architecture"]
    if select not in ("shared",):
        best = max(float(c[select]) for c in cands)
        assert float(chosen[select]) == best
    saved = json.loads((tmp_path / "architecture.json").read_text())
    assert saved["select"] == select and saved["child"]["params"] > 0 and saved["child"]["flops"] > 0


def test_unknown_select_rule_is_named(tmp_path):
    with pytest.raises(ValueError, match="unknown derive.select 'bestest'"):
        run(tmp_path, "derive.select=bestest")


TRAINING_FREE = ["experiment=nb201_zero_cost", "data=embedded", "debug=cpu_tiny", "trainer.epochs=0", "space.C=4",
                 "proxies.space.C=4", "proxies.space.N=1", "benchmark=null", "derive.num_samples=8",
                 "derive.uniform_samples=0"]


def test_training_free_search_picks_the_best_az_nas_cell_without_touching_the_shared_weights(tmp_path, monkeypatch):
    """experiment=nb201_zero_cost: no epoch, no shared-weight score; the pick is the AZ-NAS best of the
    uniform candidates, which the candidates file lists best first."""
    def untouchable(*args, **kwargs):
        raise AssertionError("a training-free search used the shared weights")

    monkeypatch.setattr(search_module, "train_epoch", untouchable)
    monkeypatch.setattr(ImageClassification, "score", untouchable)
    monkeypatch.setattr(ImageClassification, "evaluate", untouchable)
    result = search(compose_config("search", TRAINING_FREE, tmp_path))
    cands = rows(tmp_path, "derive_candidates.csv")
    assert len(cands) == 8 and {c["source"] for c in cands} == {"strategy"}
    assert all(c["score"] == "nan" for c in cands)  # nothing scored on the (untrained) shared weights
    az = [float(c["az_nas"]) for c in cands]
    assert az == sorted(az, reverse=True) and cands[0]["selected"] == "1"
    assert json.loads(cands[0]["architecture"]) == result["architecture"]
    assert not (tmp_path / "metrics.csv").exists() or rows(tmp_path) == []
    monkeypatch.undo()
    retrained = retrain(compose_config("train", ["data=embedded", "debug=cpu_tiny_train", "space=nb201", "space.C=4",
                                                 "space.N=1", f"architecture={tmp_path / 'architecture.json'}"],
                                       tmp_path / "train"))
    assert 0 <= retrained["test_acc"] <= 1


@pytest.mark.parametrize("overrides, message", [
    (["strategy=enas"], "needs strategy=random"),
    (["derive.select=shared"], "needs a training-free derive.select"),
    (["derive.select=combined", "derive.signals=[shared,zico]"], r"derive.signals=\['shared', 'zico'\]"),
    (["derive.record=[predictor]"], "cannot record predictor"),
])
def test_training_free_search_refuses_what_needs_training(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        search(compose_config("search", [*TRAINING_FREE, *overrides], tmp_path))


def test_only_a_search_may_skip_training(tmp_path):
    with pytest.raises(ValueError, match="trainer.epochs=0 must be >= 1"):
        retrain(compose_config("train", ["data=embedded", "debug=cpu_tiny_train", "trainer.epochs=0"], tmp_path))


def test_training_free_search_from_python():
    """search_model(epochs=0): the pick is the candidate the zero-cost signal rates best; the task's reward
    and score functions (the shared weights) are never called."""
    def untouchable(model):
        raise AssertionError("a training-free search used the shared weights")

    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(8) % 10
    task = SimpleTask([(images, labels)], lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]),
                      untouchable)
    model = S.create_space("nb201", C=4, N=1)
    result = search_model(model, task, epochs=0, strategy="random", seed=3,
                          derive_settings={"select": "params", "num_samples": 30, "greedy": False})
    sizes = [c["params"] for c in result["candidates"]]
    assert len(sizes) == 30 and result["score"]["params"] == max(sizes)
    assert child_parameters(model, result["architecture"]) == max(sizes)
    with pytest.raises(ValueError, match="needs strategy=random"):
        search_model(model, task, epochs=0, strategy="enas", derive_settings={"select": "params"})
    with pytest.raises(ValueError, match="needs a training-free derive.select"):
        search_model(model, task, epochs=0, strategy="random", derive_settings={"select": "shared"})


def test_combined_select_in_the_micro_space(tmp_path):
    result = run(tmp_path, "derive.select=combined", "derive.signals=[shared,zico,synflow]", base=TINY_SEARCH)
    assert S.validate_architecture(S.create_space("micro", num_layers=1, out_channels=8, num_nodes=3),
                                   result["architecture"])


@pytest.mark.parametrize("strategy", ["enas", "random", "predictor", "evolution"])
def test_every_strategy_respects_a_parameter_budget(tmp_path, monkeypatch, strategy):
    model = S.create_space("nb201", C=4, N=1)
    budget = child_parameters(model, S.from_nb201_string(RESNET_CELL))
    seen = []
    real = search_module.train_epoch

    def spy(model, task, optimizer, trainer, epoch, archs=None, **kw):
        seen.extend(archs or [])
        return real(model, task, optimizer, trainer, epoch, archs, **kw)

    monkeypatch.setattr(search_module, "train_epoch", spy)
    extra = ["predictor.enabled=true", "predictor.min_points=3", "predictor.steps=10", "predictor.pool=10",
             "predictor.evaluate=2"] if strategy == "predictor" else []
    if strategy == "evolution":  # a population small enough that children (mutants, crossovers) are asked
        extra = ["evolution.population=2", "evolution.sample=2", "evolution.crossover=0.5"]
    result = run(tmp_path, f"strategy={strategy}", f"constraint.max_params={budget}", "trainer.epochs=2", *extra)
    assert len(seen) == 6
    for arch in seen + [json.loads(c["architecture"]) for c in rows(tmp_path, "derive_candidates.csv")]:
        assert child_parameters(model, arch) <= budget
    assert result["child_params"] <= budget
    assert 0 < result["benchmark_budget_top_percent"] <= 100 if "benchmark_budget_top_percent" in result else True


def test_predictor_strategy_finds_better_architectures_than_random_on_a_known_reward():
    """BANANAS-style loop on a synthetic reward: the mean reward of what it evaluates climbs above random."""
    model = S.create_space("nb201", C=4, N=1)
    decs = S.decisions(model)
    worth = {"none": 0.0, "skip_connect": 0.1, "nor_conv_1x1": 0.5, "nor_conv_3x3": 1.0, "avg_pool_3x3": 0.2}
    reward = lambda a: sum(worth[v] for v in a.values())  # noqa: E731
    predictor = PerformancePredictor(Surrogate(decs, steps=100, seed=0), min_points=10)
    strategy = PredictorStrategy(decs, seed=0, predictor=predictor, settings=PredictorConfig(pool=50, evaluate=5))

    def observed(arch):
        value = reward(arch)
        predictor.observe(arch, value)
        return value

    for _ in range(4):  # four "epochs": a learning phase, then the refit the search does after it
        later = strategy.learn(observed, 2, Progress(2, enabled=False))
        predictor.refit()
    rng = random.Random(0)
    uniform = sum(reward(S.random_architecture(decs, rng)) for _ in range(200)) / 200
    assert later["reward"] > uniform + 1.0
    best = strategy.candidates(5)
    assert reward(best[0]) >= 5.0  # near the all-3x3 cell's 6.0
    restored = PredictorStrategy(decs, seed=0, predictor=predictor)
    restored.load_state_dict(strategy.state_dict())
    assert restored.evaluated == strategy.evaluated


def test_resume_with_screening_and_predictor_continues_exactly(tmp_path, monkeypatch):
    settings = ["trainer.epochs=3", "controller.screen_keep=1", "controller.num_aggregate=3", "predictor.enabled=true",
                "predictor.min_points=4", "predictor.steps=10"]
    a, b = straight_and_resumed(tmp_path, monkeypatch, [*TINY_NB201, *settings], kill_after=1)
    for key, value in a["supernet"].items():
        assert torch.equal(value, b["supernet"][key]), key
    assert a["predictor"]["points"] == b["predictor"]["points"]
    assert json.loads((tmp_path / "straight" / "architecture.json").read_text())["architecture"] == \
        json.loads((tmp_path / "killed" / "architecture.json").read_text())["architecture"]


def test_short_train_select_halves_the_finalists_and_keeps_the_test_set_out(tmp_path):
    result = run(tmp_path, "derive.select=short_train", "derive.rank_by=shared", "derive.short_train.finalists=4",
                 "derive.short_train.eta=2",
                 "derive.short_train.epochs=1", "derive.short_train.train_subset=64", "derive.num_samples=6")
    cands = rows(tmp_path, "derive_candidates.csv")
    [chosen] = [c for c in cands if c["selected"] == "1"]
    assert json.loads(chosen["architecture"]) == result["architecture"]
    ranks = sorted(cands, key=lambda c: -float(c["shared"]))[:4]  # it picked among the 4 best by rank_by
    assert chosen["architecture"] in [c["architecture"] for c in ranks]
    trained = [c for c in cands if c["short_train"]]  # every finalist's last validation score is written
    assert {c["architecture"] for c in trained} == {c["architecture"] for c in ranks}
    assert chosen["short_train_epochs"] == "2" and float(chosen["short_train"]) == max(
        float(c["short_train"]) for c in trained if c["short_train_epochs"] == "2")


def test_successive_halving_trains_survivors_longer():
    from enas.search import SuccessiveHalving
    from enas.config import TrainerConfig
    from enas.tasks import build_image_task
    from omegaconf import OmegaConf

    data = OmegaConf.create({"source": "embedded", "root": None, "download": False, "cutout": 0, "augment": False,
                             "eval_batch_size": 64, "batch_size": 32, "valid_size": 200, "split": "random",
                             "split_file": None, "train_subset": 128, "valid_subset": 64, "num_classes": 10})
    trainer = TrainerConfig(epochs=1, max_steps_per_epoch=2, progress=False, channels_last=False, aux_weight=0.0)
    task, _ = build_image_task(data, trainer, torch.device("cpu"), 0, "search")
    halving = SuccessiveHalving(lambda: S.create_space("nb201", C=4, N=1), task, trainer, finalists=4, epochs=1,
                                eta=2, max_steps_per_epoch=2)
    model = S.create_space("nb201", C=4, N=1)
    archs = [S.random_architecture(model, random.Random(i)) for i in range(4)]
    winner = halving(archs)
    assert winner in archs
    budgets = [(h["round"], h["epochs"]) for h in halving.history]
    assert budgets == [(0, 1)] * 4 + [(1, 2)] * 2
    # a replay trains each finalist once, alone: its score at every rung, reproducible for the seed
    curve = halving.learning_curve(archs[0])
    assert list(curve) == halving.rungs == [1, 2] and curve == halving.learning_curve(archs[0])


def test_halving_keeps_the_best_fraction_each_round_and_ties_keep_the_better_ranked():
    from enas.search import halve

    scores = {0: [0.1, 0.0], 1: [0.5, 0.2], 2: [0.4, 0.3], 3: [0.5, 0.1], 4: [0.0, 0.9]}
    asked = []

    def score(item, round_index):
        asked.append((item, round_index))
        return scores[item][round_index]

    # round 0 keeps 5 // 2 = 2 (1 and 3 tie at 0.5 ahead of 2); round 1 keeps 1 over 3 (0.2 > 0.1)
    assert halve(5, score, rounds=2, eta=2) == 1
    assert asked == [(i, 0) for i in range(5)] + [(1, 1), (3, 1)]
    assert halve(1, lambda i, r: 0.0, rounds=3, eta=2) == 0


def test_retrain_stops_early_on_a_held_out_validation_split(tmp_path):
    search(compose_config("search", [*TINY_SEARCH, "trainer.epochs=1"], tmp_path / "search"))
    cfg = compose_config("train", ["debug=cpu_tiny_train", *TINY_MICRO, f"architecture={tmp_path / 'search' / 'architecture.json'}",
                                   "trainer.epochs=6", "trainer.early_stop=1", "trainer.lr=0.0001", "trainer.lr_min=0.0",
                                   "data.valid_size=64"], tmp_path / "train")
    result = retrain(cfg)
    metrics = rows(tmp_path / "train")
    assert "valid_acc" in metrics[0] and len(metrics) < 6 and result["stopped_early"]
    assert 0 <= result["best_epoch"] < len(metrics)
