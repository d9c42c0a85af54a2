"""Preferred one-shot search: a zero-cost selector keeps the best of a pool, and the shared weights train on,
the policy learns over, and derive compares those architectures only."""
import csv
import json

import pytest
import torch

from supernet import architecture_key, create_space, decisions
from enas.search import loop as search_module
from enas.strategies import ENASStrategy
from enas.config import ControllerConfig

from conftest import compose_config, straight_and_resumed

TINY_NB201 = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "proxies.space.C=4",
              "proxies.space.N=1", "trainer.warmup_epochs=0", "benchmark=null", "controller.screen_keep=0",
              "predictor.enabled=false", "derive.select=shared", "derive.signals=[shared]", "derive.record=[]",
              "preferred.pool=40", "preferred.keep=5", "preferred.selector=params"]


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _spy_on_shared_steps(monkeypatch):
    """Every architecture the shared weights train on, as its key."""
    from enas.strategies.base import Strategy

    seen = []
    real = Strategy.before_step

    def before_step(self, model, task, arch):
        seen.append(architecture_key(arch))
        return real(self, model, task, arch)

    monkeypatch.setattr(Strategy, "before_step", before_step)
    return seen


@pytest.mark.parametrize("strategy", ["random", "enas"])
def test_the_shared_weights_train_and_derive_compares_only_the_selectors_best(tmp_path, monkeypatch, strategy):
    seen = _spy_on_shared_steps(monkeypatch)
    result = search_module.search(compose_config("search", [*TINY_NB201, f"strategy={strategy}"], tmp_path))

    pool = _rows(tmp_path / "preferred.csv")
    assert 30 <= len(pool) <= 40 and len({r["architecture"] for r in pool}) == len(pool)  # distinct draws
    params = [float(r["params"]) for r in pool]
    assert params == sorted(params, reverse=True)  # best first by the selector
    kept = {r["architecture"] for r in pool if r["kept"] == "1"}
    assert len(kept) == 5 and kept == {r["architecture"] for r in pool[:5]}
    assert set(seen) <= kept and len(set(seen)) > 1  # trained on the set, more than one of it
    candidates = {r["architecture"] for r in _rows(tmp_path / "derive_candidates.csv")}
    assert candidates == kept  # derive compares the whole set, nothing else
    assert architecture_key(result["architecture"]) in kept


def test_a_preferred_search_resumes_on_its_set_exactly(tmp_path, monkeypatch):
    straight, resumed = straight_and_resumed(tmp_path, monkeypatch, [*TINY_NB201, "trainer.epochs=3"])
    assert straight["preferred"] == resumed["preferred"] and len(straight["preferred"]) == 5
    for key, value in straight["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    for key, value in straight["controller"]["controller"].items():
        assert torch.equal(value, resumed["controller"]["controller"][key]), key
    # the resumed run did not select again: one pool, written once
    assert _rows(tmp_path / "straight" / "preferred.csv") == _rows(tmp_path / "killed" / "preferred.csv")


def test_the_policy_restricted_to_the_set_moves_toward_its_rewarded_member():
    decs = decisions(create_space("nb201", C=4, N=1))
    settings = ControllerConfig(lr=0.05, num_aggregate=5)
    strategy = ENASStrategy(decs, torch.device("cpu"), seed=0, settings=settings)
    members = strategy.uniform(4)
    strategy.prefer(members)
    target = architecture_key(members[2])
    sampled = []

    def reward(arch):
        sampled.append(architecture_key(arch))
        return 1.0 if architecture_key(arch) == target else 0.0

    class Quiet:
        def tick(self, stats):
            pass

    torch.manual_seed(0)
    before = [architecture_key(a) for a in strategy.propose(400)].count(target)
    strategy.learn(reward, 40, Quiet())
    after = [architecture_key(a) for a in strategy.propose(400)].count(target)
    assert set(sampled) <= {architecture_key(a) for a in members}  # it learned from members only
    assert after > max(2 * before, 300)
    assert strategy.greedy_candidates() == [members[2]]


@pytest.mark.parametrize("override, message", [
    (["strategy=darts"], "works with strategy=random or enas"),
    (["preferred.keep=50"], "preferred.keep=50 must be at most preferred.pool=40"),
    (["preferred.selector=accuracy"], "preferred.selector='accuracy' must be az_nas or a zero-cost proxy"),
])
def test_a_preferred_search_it_cannot_run_is_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        search_module.search(compose_config("search", [*TINY_NB201, *override], tmp_path / "run"))
    assert not (tmp_path / "run" / "preferred.csv").exists()


# -- zero-cost warm-up -----------------------------------------------------------------------------------------
WARM = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "proxies.space.C=4",
        "proxies.space.N=1", "benchmark=null", "controller.screen_keep=0", "predictor.enabled=false",
        "derive.select=shared", "derive.signals=[shared]", "derive.record=[]", "zero_cost_warmup.selector=params",
        "zero_cost_warmup.pool=50"]


class _Scorer:
    def __init__(self):
        self.calls = 0

    def score(self, arch):
        self.calls += 1
        return {"params": arch["value"]}


def test_a_zero_cost_reward_is_a_rank_against_a_fixed_pool():
    from enas.search.warmup import ZeroCostReward

    scorer = _Scorer()
    reward = ZeroCostReward(scorer, ["params"], [{"params": float(v)} for v in range(10)])
    values = [reward({"value": v}) for v in (-1.0, 4.5, 9.0, 100.0, float("nan"))]
    assert values[0] < values[1] < values[2] == values[3] == 0.0  # above the whole pool: log(11 / 11)
    assert values[4] == values[0]  # a NaN score ranks last
    reward({"value": 4.5})
    assert scorer.calls == 5  # cached per architecture


def _mean_params(search, archs):
    from enas.predictors.zero_cost import child_parameters

    return sum(child_parameters(search.model, a) for a in archs) / len(archs)


@pytest.mark.parametrize("strategy", ["enas", "evolution"])
def test_a_zero_cost_warm_up_moves_the_strategy_toward_what_the_proxy_rewards(tmp_path, strategy):
    from enas.search import build_search
    from enas.search.warmup import zero_cost_warmup

    cfg = compose_config("search", [*WARM, f"strategy={strategy}", "zero_cost_warmup.steps=30",
                                    "controller.num_aggregate=10", "controller.lr=0.05", "evolution.population=10",
                                    "evolution.sample=3"], tmp_path)
    search = build_search(cfg, torch.device("cpu"))
    drawn = lambda: search.strategy.propose(100) if strategy == "enas" else \
        [a for a, _ in search.strategy.evolution.population]  # noqa: E731
    if strategy == "evolution":
        for _ in range(10):  # the initial population, as a learning phase would start it
            search.strategy.evolution.tell(search.strategy.evolution.ask(), 0.0)
    before = _mean_params(search, drawn())
    stats = zero_cost_warmup(search, cfg.zero_cost_warmup)
    after = _mean_params(search, drawn())
    assert stats["reward"] > -2.0 and after > 1.3 * before


def test_a_warmed_up_search_resumes_exactly_without_warming_up_again(tmp_path, monkeypatch):
    from enas.search import warmup

    calls = []
    real = warmup.ZeroCostReward.__call__
    monkeypatch.setattr(warmup.ZeroCostReward, "__call__", lambda self, arch: calls.append(1) or real(self, arch))
    straight, resumed = straight_and_resumed(tmp_path, monkeypatch, [*WARM, "strategy=enas", "trainer.epochs=3",
                                                                     "zero_cost_warmup.steps=3"])
    for key, value in straight["controller"]["controller"].items():
        assert torch.equal(value, resumed["controller"]["controller"][key]), key
    for key, value in straight["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    assert len(calls) == 2 * 3 * 2  # two fresh runs x 3 steps x num_aggregate 2; the resume warmed nothing


def test_a_warm_up_without_a_learning_phase_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"zero_cost_warmup.steps \(.*\) works with strategy=enas or evolution"):
        search_module.search(compose_config("search", [*WARM, "strategy=random", "zero_cost_warmup.steps=3"],
                                            tmp_path / "run"))


# -- few-shot supernets ----------------------------------------------------------------------------------------
FEW = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "benchmark=null",
       "controller.screen_keep=0", "predictor.enabled=false", "derive.select=shared", "derive.signals=[shared]",
       "derive.record=[]", "trainer.warmup_epochs=0", "few_shot.split=[node1/edge0]"]


def test_a_few_shot_supernet_trains_only_the_part_that_owns_the_architecture():
    from supernet import FewShotSupernet, activate, random_architecture

    torch.manual_seed(0)
    model = create_space("nb201", C=4, N=1)
    few = FewShotSupernet(model, ["node1/edge0"])
    assert len(few.parts) == 5 and few.parts[0] is model
    assert len(decisions(few)) == len(decisions(model))  # one set of decisions, shared labels
    arch = {**random_architecture(decisions(model)), "node1/edge0": "nor_conv_3x3"}
    owner = few.part_of(arch)
    x = torch.randn(4, 3, 32, 32)
    activate(few, arch)
    few(x).sum().backward()
    assert all(p.grad is None for p in few.parts[owner].parameters())  # not divided: the first copy serves all
    few.zero_grad(set_to_none=True)
    with torch.no_grad():
        for p in few.parts[0].parameters():
            p.add_(1.0)  # what one-shot training taught the first copy...
    few.divide()
    assert all(torch.equal(a, b) for a, b in zip(few.parts[owner].parameters(), few.parts[0].parameters()))  # ...seeds all
    few(x).sum().backward()
    trained = [i for i, part in enumerate(few.parts) if any(p.grad is not None for p in part.parameters())]
    assert trained == [owner] and owner != 0
    assert torch.equal(few(x), few.parts[owner](x))  # scored by its own sub-supernet


def test_a_few_shot_search_splits_after_its_one_shot_epochs_and_resumes_exactly(tmp_path, monkeypatch):
    straight, resumed = straight_and_resumed(tmp_path, monkeypatch, [*FEW, "strategy=random", "trainer.epochs=3",
                                                                     "few_shot.after_epochs=1"], kill_after=1)
    assert bool(straight["supernet"]["divided"]) and bool(resumed["supernet"]["divided"])
    for key, value in straight["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    weight = next(k for k in straight["supernet"] if k.startswith("parts.0.") and k.endswith("weight"))
    copies = [straight["supernet"][weight.replace("parts.0.", f"parts.{i}.", 1)] for i in range(5)]
    assert not all(torch.equal(copies[0], c) for c in copies[1:])  # the sub-supernets trained apart


@pytest.mark.parametrize("override, message", [
    (["few_shot.split=[node9/edge9]"], "cannot split on 'node9/edge9': not a decision of the space"),
    (["strategy=gdas"], "few_shot .* needs sampled architectures"),
    (["few_shot.split_first=7"], "few_shot.split_first=7 but the space has 6 layer decisions"),
])
def test_a_few_shot_split_that_cannot_work_is_refused(tmp_path, override, message):
    overrides = [*FEW, *override] if "split_first" not in override[0] else [*FEW[:-1], *override]
    with pytest.raises(ValueError, match=message):
        search_module.search(compose_config("search", overrides, tmp_path / "run"))


def test_the_ablation_replays_each_part_of_a_preferred_run_on_its_own_candidates(tmp_path, capsys):
    from benchmarks._common import SHIPPED
    from benchmarks.analysis.__main__ import main
    from conftest import shared_data
    from enas.report.benchmark import NB201Table
    import supernet

    folder = shared_data("nasbench201")
    search_module.search(compose_config("search", [*TINY_NB201, "strategy=random"], tmp_path / "run"))
    capsys.readouterr()
    main(["preferred", str(tmp_path / "run"), "--nb201", str(folder), "--baseline", str(SHIPPED),
          "--cost", "az_nas=0.64"])
    out = capsys.readouterr().out
    table = NB201Table(str(folder / "nb201_accuracies.csv"))
    acc = lambda arch: table.lookup(supernet.to_nb201_string(arch))["cifar10_test_acc"]  # noqa: E731
    picked = json.loads((tmp_path / "run" / "architecture.json").read_text())["architecture"]
    first = json.loads(_rows(tmp_path / "run" / "preferred.csv")[0]["architecture"])
    row = next(line for line in out.splitlines() if line.startswith(str(tmp_path / "run")))
    values = row.split()
    assert values[1:3] == [str(len(_rows(tmp_path / "run" / "preferred.csv"))), "5"]
    assert float(values[3]) == pytest.approx(acc(picked), abs=0.005)  # derive: the run's pick
    assert float(values[4]) == pytest.approx(acc(first), abs=0.005)  # selector: its best of the pool
    assert "no-search az_nas" in out and "tau shared" in out


def test_a_preferred_set_is_drawn_within_the_budget(tmp_path):
    from enas.predictors.zero_cost import child_parameters
    from supernet import random_architecture
    import random

    model = create_space("nb201", C=4, N=1)
    sizes = sorted(child_parameters(model, random_architecture(decisions(model), random.Random(i))) for i in range(40))
    budget = sizes[len(sizes) // 2]  # half the space is out
    search_module.search(compose_config("search", [*TINY_NB201, "strategy=random", f"constraint.max_params={budget}"],
                                        tmp_path))
    pool = _rows(tmp_path / "preferred.csv")
    assert max(float(r["params"]) for r in pool) <= budget  # the selector prefers size: without a budget it would pass it
    chosen = json.loads((tmp_path / "architecture.json").read_text())["architecture"]
    assert child_parameters(model, chosen) <= budget


def test_few_shot_on_a_preferred_set_gives_each_sub_supernet_the_time_of_its_kept_architectures(tmp_path, monkeypatch):
    seen = _spy_on_shared_steps(monkeypatch)
    overrides = [*FEW, "strategy=random", "trainer.epochs=2", "preferred.pool=40", "preferred.keep=6",
                 "preferred.selector=synflow", "proxies.space.C=4", "proxies.space.N=1"]
    search_module.search(compose_config("search", overrides, tmp_path))
    options = decisions(create_space("nb201", C=4, N=1))[0].options
    kept = [json.loads(r["architecture"]) for r in _rows(tmp_path / "preferred.csv") if r["kept"] == "1"]
    owners = {options.index(a["node1/edge0"]) for a in kept}
    trained = [options.index(json.loads(key)["node1/edge0"]) for key in seen]
    assert trained and set(trained) <= owners  # the steps go where the selector's kept architectures are

    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)["supernet"]
    weights = [k for k in state if k.startswith("parts.0.") and k.endswith("weight")]
    def part(i):
        return [state[k.replace("parts.0.", f"parts.{i}.", 1)] for k in weights]
    idle = [i for i in range(len(options)) if i not in owners]
    for i in idle[1:]:  # divided before any training: a part without kept architectures keeps its start
        assert all(torch.equal(a, b) for a, b in zip(part(idle[0]), part(i)))
    for i in set(trained):
        assert not idle or not all(torch.equal(a, b) for a, b in zip(part(idle[0]), part(i)))
