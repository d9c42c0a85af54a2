"""Archives of what searches measured, and warm starts from them: the file, merge, exact resume, each warm start."""
import json
import random

import pytest
import torch

import supernet as S
from enas.config import ControllerConfig
from enas.policies import create_controller
from enas.predictors.performance import PerformancePredictor
from enas.predictors.surrogate import Surrogate
from enas.runs.archive import ARCHIVE, Archive, main as archive_main, merge_archives, rank_targets, read_archive
from enas.search import search
from enas.search.warm_start import archive_points, imitate
from enas.strategies import RegularizedEvolution

from conftest import TINY_SEARCH, compose_config, straight_and_resumed
from test_predictor_search import TINY_NB201

EPOCHS = ["trainer.epochs=2", "controller.train_steps=3", "controller.num_aggregate=4", "derive.num_samples=5"]
NB201 = S.decisions(S.create_space("nb201", C=1, N=1))


def lines(folder):
    return [json.loads(line) for line in (folder / ARCHIVE).read_text().splitlines()]


def table_archive(folder, scored, data="cifar100"):
    """An archive of (architecture, score) lines, as a tabular search writes them."""
    archive = Archive(folder, {"name": "nb201", "kwargs": {}}, data)
    folder.mkdir(parents=True, exist_ok=True)
    archive.rewrite([archive.row(a, s, "table", 12) for a, s in scored])
    return folder


def test_a_search_archives_every_reward_and_every_derive_candidate(tmp_path):
    result = search(compose_config("search", [*TINY_NB201, *EPOCHS], tmp_path))
    rows = lines(tmp_path)
    rewards = [r for r in rows if r["source"] == "reward"]
    assert [sum(r["epoch"] == e for r in rewards) for e in (0, 1)] == [12, 12]  # 3 updates x 4 samples per epoch
    derived = [r for r in rows if r["source"] == "derive"]
    assert len(derived) == len(result["candidates"]) and all(r["epoch"] == 2 for r in derived)
    picked = next(r for r in derived if r["architecture"] == result["architecture"])
    assert picked["score"] == pytest.approx(result["score"]["score"]) and "loss" in picked["signals"]
    assert {r["space"] for r in rows} == {"nb201"} and rows[0]["space_kwargs"]["C"] == 4
    assert all("origin" not in r for r in rows)  # the origin is added when read, so a run folder can move


def test_a_resumed_search_archives_each_measurement_once(tmp_path, monkeypatch):
    straight_and_resumed(tmp_path, monkeypatch, [*TINY_SEARCH, "trainer.epochs=3", "controller.train_steps=2",
                                                 "controller.num_aggregate=3"], kill_after=1)
    straight, resumed = (tmp_path / "straight" / ARCHIVE).read_text(), (tmp_path / "killed" / ARCHIVE).read_text()
    assert straight == resumed and straight.count('"source": "reward"') == 3 * 2 * 3


def test_rank_targets_compare_only_measurements_made_alike():
    rows = [{"origin": "a", "source": "reward", "epoch": 0, "score": s} for s in (0.1, 0.3, 0.2, 0.3)]
    rows += [{"origin": "a", "source": "reward", "epoch": 1, "score": 5.0},
             {"origin": "b", "source": "reward", "epoch": 0, "score": 9.0},
             {"origin": "b", "source": "reward", "epoch": 0, "score": None}]
    assert rank_targets(rows) == [0.0, pytest.approx(5 / 6), pytest.approx(1 / 3), pytest.approx(5 / 6), 0.5, 0.5,
                                  None]


def test_reading_skips_a_line_cut_short_and_names_a_broken_one(tmp_path):
    folder = table_archive(tmp_path / "run", [(S.random_architecture(NB201, random.Random(0)), 50.0)])
    with open(folder / ARCHIVE, "a") as f:
        f.write('{"architecture": {"node1/ed')  # a kill in the middle of an append
    assert len(read_archive(folder)) == 1
    (folder / ARCHIVE).write_text('{"architecture": {}}\n')
    with pytest.raises(ValueError, match="line 1: not an archive line"):
        read_archive(folder)
    with pytest.raises(FileNotFoundError, match="has no archive.jsonl"):
        read_archive(tmp_path)


def test_merge_keeps_every_line_once_with_its_origin(tmp_path, capsys):
    a = table_archive(tmp_path / "a", [(S.random_architecture(NB201, random.Random(0)), s) for s in (1.0, 2.0)], "cifar100")
    b = table_archive(tmp_path / "b", [(S.random_architecture(NB201, random.Random(0)), 3.0)], "imagenet16_120")
    assert archive_main(["merge", str(tmp_path / "all.jsonl"), str(a), str(b), str(a)]) == 0
    assert "3 lines (cifar100: 2, imagenet16_120: 1)" in capsys.readouterr().out
    merged = read_archive(tmp_path / "all.jsonl")
    assert [r["origin"] for r in merged] == [str(a), str(a), str(b)]
    assert merge_archives([tmp_path / "all.jsonl", b], tmp_path / "again.jsonl") == {"cifar100": 2, "imagenet16_120": 1}
    assert archive_main(["show", str(tmp_path / "all.jsonl")]) == 0 and "imagenet16_120" in capsys.readouterr().out
    assert archive_main(["show", str(tmp_path / "nothing")]) == 1


def test_archive_points_average_ranks_and_refuse_another_space(tmp_path):
    best, worst = S.random_architecture(NB201, random.Random(1)), S.random_architecture(NB201, random.Random(2))
    a = table_archive(tmp_path / "a", [(best, 90.0), (worst, 10.0)])
    b = table_archive(tmp_path / "b", [(best, 0.7), (worst, 0.9), (S.random_architecture(NB201, random.Random(3)), 0.1)])
    points = archive_points([a, b], NB201)
    assert points[0] == (best, pytest.approx((1.0 + 0.5) / 2)) and len(points) == 3
    micro = S.decisions(S.create_space("micro", num_layers=1, out_channels=8, num_nodes=3))
    with pytest.raises(ValueError, match="does not fit this search's space"):
        archive_points([a], micro)


def test_a_warm_predictor_ranks_like_the_archive_before_any_point_of_its_own():
    """Archive ranks from another dataset: the predictor, fitted on them alone, orders unseen cells by them."""
    rng = torch.Generator().manual_seed(0)
    convs = lambda a: sum(v == "nor_conv_3x3" for v in a.values())  # noqa: E731
    archs = [S.random_architecture(NB201, random.Random(i)) for i in range(200)]
    scored = [(a, convs(a) + 0.1 * float(torch.rand(1, generator=rng))) for a in archs]
    ranks = rank_targets([{"origin": "x", "source": "table", "epoch": 12, "score": s} for _, s in scored])
    predictor = PerformancePredictor(Surrogate(NB201, steps=200, seed=0), min_points=30)
    predictor.warm_start([(a, r) for (a, _), r in zip(scored, ranks)])
    assert predictor.ready and len(predictor) == 0
    unseen = [S.random_architecture(NB201, random.Random(1000 + i)) for i in range(50)]
    mean, _ = predictor.predict(unseen)
    from enas.predictors.ranking import kendall_tau
    assert kendall_tau(mean, [convs(a) for a in unseen]) > 0.6
    # its own points then set the scale: predictions move onto this search's rewards (here around 50)
    for a in unseen[:10]:
        predictor.observe(a, 50.0 + convs(a))
    predictor.refit()
    assert 48 < sum(predictor.predict(unseen[10:])[0]) / 40 < 57


def test_imitation_moves_the_policy_toward_the_archives_best():
    settings = ControllerConfig(lstm_size=16, lr=0.05)
    controller = create_controller(NB201, settings)
    best = [{d.label: "nor_conv_3x3" for d in NB201}]
    moved = imitate(controller, best, 50, settings)
    assert moved["log_prob_after"] > moved["log_prob_before"] + 2
    with torch.no_grad():
        samples = controller.sample_many(200).archs
    share = sum(v == "nor_conv_3x3" for a in samples for v in a.values()) / (200 * len(NB201))
    # uniform: 0.2; ENAS's tanh bound (1.1 / 2.5 on op logits) caps one op of five at 0.375
    assert share > 0.33


def test_evolution_starts_from_the_archives_best(tmp_path):
    scored = [(S.random_architecture(NB201, random.Random(i)), float(i)) for i in range(30)]
    folder = table_archive(tmp_path / "a", scored)
    cfg = compose_config("search", [*TINY_NB201, "strategy=evolution", f"evolution.warm_start=[{folder}]",
                                    "evolution.population=5", "evolution.sample=2"])
    from enas.search.warm_start import warm_start
    from enas.strategies import create_strategy
    strategy = create_strategy(cfg, NB201, torch.device("cpu"))
    warm_start(strategy, cfg)
    asked = [strategy.evolution.ask() for _ in range(5)]
    assert asked == [a for a, _ in scored[::-1][:5]]
    strategy.evolution.seed_population([a for a, _ in scored[:3]])  # seeds not yet asked survive a checkpoint
    restored = RegularizedEvolution(NB201)
    restored.load_state_dict(strategy.evolution.state_dict())
    assert restored.seeds == [a for a, _ in scored[:3]] and restored.ask() == scored[0][0]


def test_warm_started_predictor_search_guides_from_the_first_step_and_resumes_exactly(tmp_path, monkeypatch):
    first = tmp_path / "earlier"
    search(compose_config("search", [*TINY_NB201, *EPOCHS], first))
    warm = [*TINY_NB201, "strategy=predictor", f"predictor.warm_start=[{first}]", "predictor.min_points=20",
            "predictor.steps=20", "predictor.evaluate=2", "predictor.pool=10", "trainer.epochs=3",
            "controller.train_steps=2"]
    straight, resumed = straight_and_resumed(tmp_path, monkeypatch, warm, kill_after=1)
    assert straight["controller"] == resumed["controller"]
    assert straight["predictor"]["prior"] and straight["predictor"]["prior"] == resumed["predictor"]["prior"]
    assert json.loads(json.dumps(list(straight["predictor"]["points"]))) == \
        json.loads(json.dumps(list(resumed["predictor"]["points"])))
    recorded = (tmp_path / "straight" / "config.yaml").read_text()
    assert str(first) in recorded  # the warm start is part of the run's record


@pytest.mark.parametrize("overrides, message", [
    (["strategy=random", "controller.warm_start=[x]"], "controller.warm_start warms a part of strategy=enas"),
    (["strategy=enas", "predictor.warm_start=[x]"], "predictor.enabled=true"),
    (["strategy=enas", "controller.warm_start=[/no/such/run]"], "archive /no/such/run does not exist"),
])
def test_a_warm_start_that_cannot_work_is_refused_before_the_search(tmp_path, overrides, message):
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        search(compose_config("search", [*TINY_NB201, *overrides], tmp_path))


def test_the_transfer_benchmark_warms_each_strategy_from_the_other_datasets_archives(tmp_path, capsys):
    from conftest import shared_data
    from benchmarks import nb201_transfer

    folder = shared_data("nasbench201", "nb201_accuracies.csv").parent
    record = nb201_transfer.main(["--nb201", str(folder), "--seeds", "2", "--targets", "cifar100", "--budgets", "10",
                                  "20", "--source-queries", "30", "--fit-steps", "10", "--work", str(tmp_path / "w"),
                                  "--out", str(tmp_path / "t.json")])
    assert set(record["results"]) == {f"cifar100/{s}/{a}" for s in nb201_transfer.STRATEGIES for a in ("cold", "warm")}
    warm = record["results"]["cifar100/evolution/warm"]
    assert warm["sources"] == ["cifar10", "imagenet16_120"] and len(warm["seeds"]) == 2
    source = read_archive(tmp_path / "w" / "cifar10" / "s0")
    assert len(source) == 30 and {r["data"] for r in source} == {"cifar10"} and {r["source"] for r in source} == {"table"}
    assert "C-100   predictor  warm" in capsys.readouterr().out


def test_controller_init_starts_the_policy_from_an_earlier_runs_weights(tmp_path):
    from enas.runs.checkpoint import load_checkpoint
    from enas.search.warm_start import warm_start
    from enas.strategies import create_strategy

    earlier = tmp_path / "earlier"
    search(compose_config("search", [*TINY_NB201, *EPOCHS], earlier))
    trained = load_checkpoint(earlier)["controller"]["controller"]
    cfg = compose_config("search", [*TINY_NB201, f"controller.init={earlier}"])
    strategy = create_strategy(cfg, NB201, torch.device("cpu"))
    assert any(not torch.equal(v, trained[k]) for k, v in strategy.controller.state_dict().items())
    warm_start(strategy, cfg)
    assert all(torch.equal(v, trained[k]) for k, v in strategy.controller.state_dict().items())
    wider = compose_config("search", [*TINY_NB201, f"controller.init={earlier}", "controller.lstm_size=48"])
    with pytest.raises(ValueError, match="does not fit this one"):
        warm_start(create_strategy(wider, NB201, torch.device("cpu")), wider)
    with pytest.raises(ValueError, match="controller.init starts an ENAS policy"):
        search(compose_config("search", [*TINY_NB201, "strategy=random", f"controller.init={earlier}"],
                              tmp_path / "random"))
