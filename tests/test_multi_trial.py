"""Multi-trial search: every proposed child trained on its own, early stopping, weight inheritance, resume,
failures, and the same search on Ray workers (local, a separately started cluster, a worker that dies)."""
import json
import platform
import random
import subprocess
import sys

import pytest
import torch

from supernet import architecture_key, create_space, decisions, freeze, inherit, random_architecture, use_running_stats
from enas.config import TrainerConfig
from enas.search import build_search
from enas.strategies import mutate
from enas.trials import MultiTrialSearch, Rungs, TrialRunner, multi_trial_search, ray_available
from enas.trials import search as trials_module

from conftest import compose_config

TINY = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "benchmark=null",
        "mode=multi_trial", "multi_trial.engine=local", "multi_trial.epochs=2", "evolution.population=3",
        "evolution.sample=2", "controller.num_aggregate=3", "predictor.enabled=false", "controller.screen_keep=0"]


def _trials(folder):
    return [json.loads(line) for line in (folder / "trials.jsonl").read_text().splitlines()]


def _count_runs(monkeypatch):
    """Every job a worker in this process trains, as (trial id, start epoch)."""
    runs = []
    real = TrialRunner.run

    def run(self, job):
        runs.append((job["id"], job["start"]))
        return real(self, job)

    monkeypatch.setattr(TrialRunner, "run", run)
    return runs


@pytest.mark.parametrize("strategy", ["evolution", "enas", "random", "predictor"])
def test_every_proposed_child_is_trained_and_the_best_becomes_the_architecture_file(tmp_path, strategy):
    extra = ["predictor.enabled=true", "predictor.min_points=2", "predictor.evaluate=3", "predictor.features=[]"] \
        if strategy == "predictor" else []
    result = multi_trial_search(compose_config("search", [*TINY, f"strategy={strategy}", "multi_trial.trials=6",
                                                          *extra], tmp_path))
    trials = _trials(tmp_path)
    assert len(trials) >= 6 and len({t["id"] for t in trials}) == len(trials)
    assert len({architecture_key(t["architecture"]) for t in trials}) == len(trials)  # none trained twice
    assert all(t["status"] == "finished" and t["epochs"] == 2 for t in trials)
    best = max(trials, key=lambda t: t["score"])
    meta = json.loads((tmp_path / "architecture.json").read_text())
    assert meta["architecture"] == best["architecture"] == result["architecture"]
    assert meta["space"]["name"] == "nb201" and meta["trials"] == len(trials)
    if strategy == "evolution":  # once the population is full, children come from tournaments
        assert any(t["parent"] is not None for t in trials[3:])


def test_the_pick_retrains_standalone_with_enas_train(tmp_path):
    from enas.search import retrain

    multi_trial_search(compose_config("search", [*TINY, "strategy=random", "multi_trial.trials=2"], tmp_path / "s"))
    cfg = compose_config("train", ["data=embedded", "debug=cpu_tiny_train", "space=nb201", "space.C=4", "space.N=1",
                                   f"architecture={tmp_path / 's' / 'architecture.json'}"], tmp_path / "t")
    result = retrain(cfg)
    picked = json.loads((tmp_path / "s" / "architecture.json").read_text())["architecture"]
    assert result["architecture"] == picked == max(_trials(tmp_path / "s"), key=lambda t: t["score"])["architecture"]
    assert 0.0 <= result["test_acc"] <= 1.0


def test_a_rung_keeps_only_the_best_fraction_of_those_that_reached_it():
    rungs = Rungs(epochs=9, rung_epochs=1, eta=3)
    assert rungs.milestones == [1, 3] and [rungs.next_stop(e) for e in (0, 1, 3)] == [1, 3, 9]
    assert rungs.record(1, 0.5)            # the first to arrive continues
    assert not rungs.record(1, 0.4)        # 1 of 2 may continue: the better one already did
    assert not rungs.record(1, 0.45)
    assert rungs.record(1, 0.9)            # best of 4: continues
    assert not rungs.record(1, 0.6) and rungs.record(1, 0.95)  # 2 of 6 continue: 0.6 is third
    assert not rungs.record(9, 1.0)        # the end of the budget: nothing to continue


def test_early_stopping_ends_poor_children_at_a_rung_and_continues_the_best(tmp_path, monkeypatch):
    runs = _count_runs(monkeypatch)
    multi_trial_search(compose_config("search", [*TINY, "strategy=random", "multi_trial.trials=8", "multi_trial.epochs=4",
                                                 "multi_trial.rung_epochs=1", "multi_trial.eta=2"], tmp_path))
    trials = _trials(tmp_path)
    stopped = [t for t in trials if t["status"] == "stopped"]
    finished = [t for t in trials if t["status"] == "finished"]
    assert stopped and finished and {t["epochs"] for t in stopped} <= {1, 2} and all(t["epochs"] == 4 for t in finished)
    for t in stopped:  # stopped at the rung it ended on, having continued past every earlier one
        assert sorted(map(int, t["rungs"])) == [1, 2][:t["epochs"]]
    for t in finished:  # continued where it stopped, not from scratch: one job per rung
        assert set(t["rungs"]) == {"1", "2", "4"} and [s for i, s in runs if i == t["id"]] == [0, 1, 2]
    meta = json.loads((tmp_path / "architecture.json").read_text())
    assert meta["architecture"] == max(finished, key=lambda t: t["score"])["architecture"]  # never an early stop's
    # the archive holds every rung's score once, at the epochs it was reached (what compares with what)
    archive = [json.loads(line) for line in (tmp_path / "archive.jsonl").read_text().splitlines()]
    assert sorted((a["signals"]["trial"], a["epoch"], a["score"]) for a in archive) == \
        sorted((t["id"], int(e), s) for t in trials for e, s in t["rungs"].items())
    assert {a["source"] for a in archive} == {"trial"}
    pytest.importorskip("matplotlib")
    from enas.report import write_report

    assert "each child&#x27;s validation score" in write_report(tmp_path).read_text()
    assert (tmp_path / "report_trials.png").is_file()


MAPPED_WHILE_HELD = """
import ctypes, importlib.util, sys

spec = importlib.util.spec_from_file_location("malloc", sys.argv[1])  # alone: no torch, a fresh small heap
malloc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(malloc)
keep_freed_memory_mapped = malloc.keep_freed_memory_mapped

class MallInfo2(ctypes.Structure):  # glibc's struct mallinfo2: every field a size_t
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                              "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype, libc.malloc.restype, libc.free.argtypes = MallInfo2, ctypes.c_void_p, [ctypes.c_void_p]

def mapped_while_held(size):
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    mapped = libc.mallinfo2().hblkhd - before
    libc.free(block)
    return mapped

first = mapped_while_held(8 << 20)
assert keep_freed_memory_mapped()
print(first, mapped_while_held(8 << 20))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_a_fresh_worker_process_keeps_its_activations_in_the_heap_once_tuned(monkeypatch):
    """In a fresh process (a Ray worker: its data arrives, it never frees a large block) glibc maps an 8 MB
    activation from the kernel each time; after `keep_freed_memory_mapped` it comes from the heap. Every
    `TrialRunner` tunes its process unless the run says ``tune_malloc=false``."""
    import ctypes

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("glibc before 2.33 has no mallinfo2")
    from enas.runs import malloc
    from enas.trials import child

    done = subprocess.run([sys.executable, "-c", MAPPED_WHILE_HELD, malloc.__file__], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = map(int, done.stdout.split())
    assert before >= 8 << 20 and after == 0
    calls = []
    monkeypatch.setattr(child, "keep_freed_memory_mapped", lambda: calls.append(1))
    for tune in (True, False):
        TrialRunner(None, lambda _: None, TrainerConfig(), epochs=1, tune_malloc=tune)
    assert calls == [1]


def test_inherit_copies_the_parents_weights_where_the_architectures_agree():
    space = create_space("nb201", C=4, N=1)
    decs = decisions(space)
    rng = random.Random(0)
    parent_arch = {**random_architecture(decs, rng), "node1/edge0": "nor_conv_3x3", "node2/edge0": "nor_conv_1x1"}
    child_arch = {**parent_arch, "node1/edge0": "nor_conv_1x1"}
    parent = use_running_stats(freeze(space, parent_arch))
    with torch.no_grad():
        for p in parent.parameters():
            p.add_(1.0)  # trained
    child = use_running_stats(freeze(create_space("nb201", C=4, N=1), child_arch))
    copied = set(inherit(child, child_arch, parent.state_dict(), parent_arch, space))
    state, trained = child.state_dict(), parent.state_dict()
    paths = {label: [n + "." for n, m in space.named_modules() if getattr(m, "label", None) == label]
             for label in ("node1/edge0", "node2/edge0")}
    changed = [k for k in state if k.startswith(tuple(paths["node1/edge0"]))]
    assert changed and not copied & set(changed)  # the mutated edge keeps its fresh initialisation
    assert any(k.startswith(tuple(paths["node2/edge0"])) for k in copied) and any(k.startswith("stem") for k in copied)
    for k in copied:
        assert torch.equal(state[k], trained[k])


def test_a_child_that_inherits_everything_starts_where_its_parent_ended(tmp_path):
    cfg = compose_config("search", [*TINY, "strategy=evolution", "multi_trial.trials=1"])
    s = build_search(cfg, torch.device("cpu"))
    runner = TrialRunner(s.task, s.network, TrainerConfig(**dict(cfg.trainer)), epochs=2)
    arch = s.strategy.uniform(1)[0]
    parent = runner.run({"id": 0, "architecture": arch, "start": 0, "stop": 2})
    same = runner.run({"id": 1, "architecture": arch, "start": 0, "stop": 0,
                       "parent": {"architecture": arch, "weights": parent["state"]["model"]}})
    fresh = runner.run({"id": 1, "architecture": arch, "start": 0, "stop": 0})
    assert same["score"] == parent["score"] and same["inherited"] == len(parent["state"]["model"])
    assert fresh["score"] != parent["score"]


def test_evolution_with_inheritance_starts_mutated_children_from_their_parents(tmp_path):
    multi_trial_search(compose_config("search", [*TINY, "strategy=evolution", "multi_trial.trials=7",
                                                 "multi_trial.inherit=true"], tmp_path))
    trials = _trials(tmp_path)
    children = [t for t in trials if t["parent"] is not None]
    assert children and all(t["inherited"] > 0 for t in children)
    assert all(t["inherited"] == 0 for t in trials if t["parent"] is None)
    assert sorted(p.stem for p in (tmp_path / "trial_weights").glob("*.pt")) == sorted(str(t["id"]) for t in trials)


class Killed(Exception):
    pass


def _kill_after(monkeypatch, saves):
    real = MultiTrialSearch._save
    count = [0]

    def save(self):
        real(self)
        count[0] += 1
        if count[0] == saves:
            raise Killed

    monkeypatch.setattr(MultiTrialSearch, "_save", save)


@pytest.mark.parametrize("strategy, saves", [("evolution", 3), ("enas", 1)])
def test_a_killed_search_resumes_without_training_a_finished_trial_again(tmp_path, monkeypatch, strategy, saves):
    overrides = [*TINY, f"strategy={strategy}", "multi_trial.trials=7", "multi_trial.inherit=" +
                 str(strategy == "evolution").lower()]
    multi_trial_search(compose_config("search", overrides, tmp_path / "straight"))
    _kill_after(monkeypatch, saves)
    with pytest.raises(Killed):
        multi_trial_search(compose_config("search", overrides, tmp_path / "killed"))
    monkeypatch.undo()
    before = {t["id"] for t in _trials(tmp_path / "killed")}
    assert before
    runs = _count_runs(monkeypatch)
    resumed = compose_config("search", [*overrides, f"resume={tmp_path / 'killed'}"], tmp_path / "killed")
    multi_trial_search(resumed)
    trials = _trials(tmp_path / "killed")
    assert not before & {i for i, _ in runs}  # nothing finished ran again
    assert len({t["id"] for t in trials}) == len(trials) >= 7  # each finished trial counted once
    if strategy == "enas":  # in one process the policy's batches are deterministic: the resumed run is the same run
        straight = _trials(tmp_path / "straight")
        assert [(t["architecture"], t["score"]) for t in trials] == [(t["architecture"], t["score"]) for t in straight]


def test_a_child_that_raises_is_recorded_as_failed_and_the_search_goes_on(tmp_path, monkeypatch):
    real = TrialRunner._child

    def child(self, job):
        if job["id"] == 1:
            raise FloatingPointError("loss is nan at step 3")
        return real(self, job)

    monkeypatch.setattr(TrialRunner, "_child", child)
    multi_trial_search(compose_config("search", [*TINY, "strategy=evolution", "multi_trial.trials=4"], tmp_path))
    trials = _trials(tmp_path)
    failed = [t for t in trials if t["status"] == "failed"]
    assert len(trials) == 4 and [t["id"] for t in failed] == [1]
    assert failed[0]["error"] == "FloatingPointError: loss is nan at step 3"
    assert json.loads((tmp_path / "architecture.json").read_text())["trial"] != 1


@pytest.mark.parametrize("override, message", [
    (["strategy=darts"], "strategy=darts has no proposals"),
    (["strategy=random", "multi_trial.inherit=true"], "multi_trial.inherit needs strategy=evolution"),
    (["strategy=random", "preferred.pool=100"], "preferred.pool shapes how shared weights train"),
    (["strategy=random", "multi_trial.rung_epochs=2"], "multi_trial.rung_epochs=2 must be below multi_trial.epochs=2"),
    (["strategy=random", "multi_trial.engine=dask"], "multi_trial.engine"),
])
def test_a_multi_trial_search_it_cannot_run_is_refused_before_anything_runs(tmp_path, override, message):
    with pytest.raises(ValueError, match=message):
        multi_trial_search(compose_config("search", [*TINY, *override], tmp_path))
    assert not (tmp_path / "trials.jsonl").exists()


# -- a zero-cost warm-up and the joint pick ----------------------------------------------------------------------
ZC = [*TINY, "strategy=evolution", "proxies.space.C=4", "proxies.space.N=1", "zero_cost_warmup.pool=20",
      "multi_trial.trials=5"]


@pytest.mark.parametrize("selector", ["az_nas", "params"])
def test_a_zero_cost_warm_up_trains_the_proxys_best_cells_as_evolutions_first_population(tmp_path, monkeypatch,
                                                                                          selector):
    from enas.search import warmup

    rewards = {}  # every architecture the warm-up scored, with its zero-cost reward
    real = warmup.ZeroCostReward.__call__

    def scored(self, arch):
        rewards[architecture_key(arch)] = real(self, arch)
        return rewards[architecture_key(arch)]

    monkeypatch.setattr(warmup.ZeroCostReward, "__call__", scored)
    overrides = [*ZC, "zero_cost_warmup.steps=4", f"zero_cost_warmup.selector={selector}",
                 "multi_trial.select=score_az_nas"]  # one scorer serves both: the selector's proxies and AZ-NAS
    multi_trial_search(compose_config("search", overrides, tmp_path))
    first = [architecture_key(t["architecture"]) for t in _trials(tmp_path)[:3]]  # evolution.population=3
    best = sorted(rewards.values(), reverse=True)
    assert len(rewards) > 6 and all(t["parent"] is None for t in _trials(tmp_path)[:3])
    assert sorted((rewards[k] for k in first), reverse=True) == best[:3]  # the proxy's three best, trained first
    # and scored on their own: the population's warm-up fitness (log-ranks) never reached the trained scores
    assert all(0.0 <= t["score"] <= 1.0 for t in _trials(tmp_path))


def test_a_warmed_up_multi_trial_search_resumes_without_warming_up_again(tmp_path, monkeypatch):
    from enas.trials import search as module

    overrides = [*ZC, "zero_cost_warmup.steps=2", "multi_trial.select=score_az_nas"]
    _kill_after(monkeypatch, 2)
    with pytest.raises(Killed):
        multi_trial_search(compose_config("search", overrides, tmp_path))
    monkeypatch.undo()
    calls = []
    real = module.zero_cost_warmup
    monkeypatch.setattr(module, "zero_cost_warmup", lambda *a, **k: calls.append(1) or real(*a, **k))
    multi_trial_search(compose_config("search", [*overrides, f"resume={tmp_path}"], tmp_path))
    trials = _trials(tmp_path)
    assert not calls and len({t["id"] for t in trials}) == len(trials) >= 5
    assert all(set(t["zero_cost"]) == {"expressivity", "progressivity", "trainability", "flops"} for t in trials)


def _records(*rows):
    """Trials as `TrialsFile` keeps them: (score, AZ-NAS signals, status, epochs) per row."""
    from enas.trials.records import TrialsFile

    trials = TrialsFile(None)
    for i, (score, signal, status, epochs) in enumerate(rows):
        trials.append({"id": i, "architecture": {"op": str(i)}, "parent": None, "status": status, "score": score,
                       "epochs": epochs, "seconds": 1.0, "zero_cost": {name: signal for name in
                                                                       ("expressivity", "progressivity",
                                                                        "trainability", "flops")}})
    return trials


@pytest.mark.parametrize("select, picked", [("score", 0), ("score_az_nas", 1)])
def test_the_joint_pick_weighs_the_validation_score_and_az_nas_alike(select, picked):
    from types import SimpleNamespace

    from enas.trials.finish import pick

    trials = _records((0.90, 1.0, "finished", 4),   # the best score, AZ-NAS's worst
                      (0.89, 9.0, "finished", 4),   # second by score, AZ-NAS's best: best by both together
                      (0.50, 8.0, "finished", 4),
                      (0.95, 10.0, "stopped", 1),   # stopped at a rung: not comparable
                      (0.99, 10.0, "failed", 0),
                      (0.70, 2.0, "finished", 4))
    search = SimpleNamespace(trials=trials, settings=SimpleNamespace(select=select),
                             zero_cost_signals=lambda arch: pytest.fail("the signals are in the records"))
    assert pick(search)["id"] == picked


def test_the_pick_by_score_and_parameters_prefers_the_larger_of_two_close_children(monkeypatch):
    """Short training favours small cells that learn fast: among children scored alike, the larger one wins."""
    from types import SimpleNamespace

    from enas.trials import finish

    params = {"0": 10.0, "1": 1000.0, "2": 2000.0, "3": 5000.0, "4": 5000.0, "5": 1.0}
    monkeypatch.setattr(finish, "child_parameters", lambda model, arch: params[arch["op"]])
    trials = _records((0.90, 0.0, "finished", 4),   # the best score, nearly the smallest child
                      (0.89, 0.0, "finished", 4),   # second by score, larger: best by both together
                      (0.50, 0.0, "finished", 4),   # large but poorly scored
                      (0.95, 0.0, "stopped", 1),    # stopped at a rung: not comparable
                      (0.99, 0.0, "failed", 0),
                      (0.70, 0.0, "finished", 4))
    search = SimpleNamespace(trials=trials, settings=SimpleNamespace(select="score_params"),
                             s=SimpleNamespace(child_model=None))
    assert finish.pick(search)["id"] == 1
    params["1"] = 5.0  # now the smaller of the two: the best score wins again
    assert finish.pick(search)["id"] == 0


@pytest.mark.parametrize("select", ["score_az_nas", "score_params"])
def test_the_joint_pick_is_written_beside_the_best_by_score(tmp_path, select):
    multi_trial_search(compose_config("search", [*ZC, f"multi_trial.select={select}"], tmp_path))
    meta = json.loads((tmp_path / "architecture.json").read_text())
    trials = _trials(tmp_path)
    assert meta["multi_trial_select"] == select
    assert meta["best_score_trial"] == max(trials, key=lambda t: t["score"])["id"]
    assert meta["trial"] in {t["id"] for t in trials}


def test_a_multi_trial_warm_up_needs_a_strategy_that_learns(tmp_path):
    with pytest.raises(ValueError, match=r"zero_cost_warmup.steps \(.*\) works with strategy=enas or evolution"):
        multi_trial_search(compose_config("search", [*TINY, "strategy=random", "zero_cost_warmup.steps=2"], tmp_path))
    with pytest.raises(ValueError, match="multi_trial.select"):
        multi_trial_search(compose_config("search", [*TINY, "strategy=random", "multi_trial.select=best"], tmp_path))


# -- on Ray ------------------------------------------------------------------------------------------------------
needs_ray = pytest.mark.skipif(not ray_available(), reason="Ray is not installed (pip install 'enas[ray]')")
RAY = [*TINY, "multi_trial.engine=ray", "multi_trial.workers=2", "multi_trial.threads=1"]


@needs_ray
def test_two_ray_workers_train_children_at_once_and_asynchronously(tmp_path):
    multi_trial_search(compose_config("search", [*RAY, "strategy=evolution", "multi_trial.trials=6",
                                                 "multi_trial.inherit=true"], tmp_path))
    trials = _trials(tmp_path)
    assert len(trials) == 6 and len({t["worker"] for t in trials}) == 2
    assert any(t["parent"] is not None and t["inherited"] > 0 for t in trials)


DIES_ONCE = '''
import os
from pathlib import Path

from torch import nn

from supernet import create_space, register_space

MARK = Path(__file__).with_name("died")


class Dying(nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        import ray
        if ray.is_initialized() and ray.get_runtime_context().get_actor_id() and not MARK.exists():
            MARK.write_text("1")
            os._exit(1)  # the worker process dies in the middle of a trial
        return self.net(x)


@register_space
def nb201_dies_once(C=16, N=5, affine=False, track_running_stats=False):
    return Dying(create_space("nb201", C=C, N=N, affine=affine, track_running_stats=track_running_stats))
'''


@needs_ray
def test_a_trial_whose_worker_dies_runs_again_on_another_worker(tmp_path, monkeypatch):
    from supernet import _registry

    monkeypatch.setattr(_registry, "_SPACES", dict(_registry._SPACES))  # leave the registry as it was
    module = tmp_path / "dies_once.py"
    module.write_text(DIES_ONCE)
    multi_trial_search(compose_config("search", [*RAY, "strategy=random", "multi_trial.trials=3", "space.name=nb201_dies_once", f"imports=[{module}]"],
                                      tmp_path / "run"))
    trials = _trials(tmp_path / "run")
    assert (tmp_path / "died").exists() and len(trials) == 3
    assert [t["attempts"] for t in trials].count(2) == 1 and all(t["status"] == "finished" for t in trials)


@needs_ray
def test_the_same_search_runs_on_a_separately_started_ray_cluster(tmp_path):
    ray = [sys.executable, "-m", "ray.scripts.scripts"]
    port = 6391
    env = {"RAY_USAGE_STATS_ENABLED": "0"}
    import os
    subprocess.run([*ray, "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2",
                    "--include-dashboard=false", "--disable-usage-stats",
                    '--system-config={"worker_niceness": 0}'], check=True, env={**os.environ, **env},
                   capture_output=True)
    try:
        multi_trial_search(compose_config("search", [*RAY, "strategy=random", "multi_trial.trials=3",
                                                     f"multi_trial.address=127.0.0.1:{port}"], tmp_path))
        assert len(_trials(tmp_path)) == 3
    finally:
        subprocess.run([*ray, "stop", "--force"], env={**os.environ, **env}, capture_output=True)


# -- a retrained child that starts from the search's shared weights ---------------------------------------------
ONE_SHOT = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "benchmark=null",
            "strategy=random", "predictor.enabled=false", "controller.screen_keep=0", "derive.select=shared",
            "derive.signals=[shared]", "derive.record=[]", "trainer.warmup_epochs=0"]


def test_enas_train_init_starts_the_child_from_the_searchs_shared_weights(tmp_path):
    from enas.runs.checkpoint import load_checkpoint
    from enas.search import retrain, search
    from enas.search.retrain import build_child

    search(compose_config("search", ONE_SHOT, tmp_path / "s"))
    shared = load_checkpoint(tmp_path / "s")["supernet"]
    train = ["data=embedded", "debug=cpu_tiny_train", "space=nb201", "space.C=4", "space.N=1",
             f"architecture={tmp_path / 's' / 'architecture.json'}"]
    cfg = compose_config("train", train)
    kept, _, _ = build_child(cfg.space, cfg.architecture, torch.device("cpu"), init=str(tmp_path / "s"))
    fresh, _, _ = build_child(cfg.space, cfg.architecture, torch.device("cpu"))
    weights = [k for k in kept.state_dict() if k.endswith("weight")]
    trained = [v for v in shared.values() if v.is_floating_point()]

    def from_search(tensor):
        return any(v.shape == tensor.shape and torch.equal(v, tensor) for v in trained)

    assert weights and all(from_search(kept.state_dict()[k]) for k in weights)
    assert not any(from_search(fresh.state_dict()[k]) for k in weights if fresh.state_dict()[k].dim() > 1)
    result = retrain(compose_config("train", [*train, f"init={tmp_path / 's'}"], tmp_path / "t"))
    assert 0.0 <= result["test_acc"] <= 1.0

    with pytest.raises(ValueError, match="its weights fit only the searched space and size"):
        retrain(compose_config("train", [*train[:-3], "space.C=8", "space.N=1", train[-1], f"init={tmp_path / 's'}"],
                               tmp_path / "t2"))


def test_the_benchmark_tabulates_multi_trial_runs_with_their_benchmark_accuracy(tmp_path, monkeypatch, capsys):
    from conftest import shared_data
    from benchmarks import nb201_multi_trial

    nb201 = shared_data("nasbench201")
    for workers in (1, 2):
        multi_trial_search(compose_config("search", [
            *TINY, "strategy=evolution", "multi_trial.trials=3", "benchmark=nb201", f"multi_trial.workers={workers}",
            "multi_trial.threads=1", f"benchmark_file={nb201 / 'nb201_accuracies.csv'}"],
            tmp_path / f"evolution_w{workers}t1_s0"))
    monkeypatch.setattr(sys, "argv", ["nb201_multi_trial", "--nb201", str(nb201), "--report", str(tmp_path)])
    nb201_multi_trial.main()
    out = capsys.readouterr().out
    assert "evolution_w1t1_s0" in out and "evolution_w2t1_s0" in out and "x the trials per hour of one worker" in out
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("run "))
    assert len(lines[head]) == len(lines[head + 1])  # fixed-width columns: every one has its label
    pick = json.loads((tmp_path / "evolution_w1t1_s0" / "architecture.json").read_text())["benchmark"]
    assert f"{pick['cifar10_test_acc']:.2f}" in out


def test_the_inheritance_benchmark_trains_the_child_from_scratch_and_from_the_shared_weights(tmp_path, monkeypatch,
                                                                                             capsys):
    from enas.search import search
    from benchmarks import inheritance

    search(compose_config("search", ONE_SHOT, tmp_path / "s"))
    monkeypatch.setattr(sys, "argv", ["inheritance", str(tmp_path / "s"), "--epochs", "2", "--out", str(tmp_path / "i"),
                                      "data=embedded", "debug=cpu_tiny_train"])
    inheritance.main()
    out = capsys.readouterr().out
    assert "epochs the fine-tuned child needs" in out
    for arm in ("scratch", "shared"):
        assert len((tmp_path / "i" / f"s_{arm}" / "metrics.csv").read_text().splitlines()) == 3  # header + 2 epochs
    assert f"init: {tmp_path / 's'}" in (tmp_path / "i" / "s_shared" / "config.yaml").read_text()


def test_search_model_runs_a_multi_trial_search_on_a_users_space(tmp_path):
    """From Python, on an inline space: every child is a re-initialised copy of the model, trained and scored."""
    from collections import OrderedDict

    import supernet as S
    from torch import nn
    from enas import SimpleTask, search_model

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(S.LayerChoice(OrderedDict(
                [("linear", nn.Linear(4, 4)), ("identity", nn.Identity()), ("tanh", nn.Tanh())]), label=f"block{i}")
                for i in range(2))
            self.head = nn.Linear(4, 4)

        def forward(self, x):
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    wanted = (nn.Linear, nn.Tanh)
    score = lambda m: float(sum(isinstance(b, w) for b, w in zip(m.blocks, wanted)))  # noqa: E731  on a frozen child
    batches = [(torch.randn(8, 4), torch.randn(8, 4)) for _ in range(2)]
    task = SimpleTask(batches, lambda m, b: nn.functional.mse_loss(m(b[0]), b[1]), score)
    result = search_model(Net(), task, strategy="random", seed=0, output_dir=tmp_path,
                          multi_trial={"trials": 9, "epochs": 1, "engine": "local"})
    trials = _trials(tmp_path)
    assert len(trials) == 9  # the whole space: an architecture drawn again is looked up, not trained
    assert result["score"] == 2.0 and result["architecture"] == {"block0": "linear", "block1": "tanh"}


def test_a_multi_trial_search_killed_with_sigkill_ends_with_the_uninterrupted_runs_trials(tmp_path, monkeypatch,
                                                                                          capsys):
    from benchmarks import faults

    monkeypatch.setattr(sys, "argv", ["faults", "--multi-trial", "enas", "--kills", "2", "--per-chain", "2",
                                      "--out", str(tmp_path)])
    monkeypatch.setattr(faults, "SETTINGS", list(faults.SETTINGS))
    with pytest.raises(SystemExit) as done:
        faults.main()
    assert done.value.code == 0, capsys.readouterr().out
    assert "1 of 1 chains ended as they must" in capsys.readouterr().out


def test_without_ray_the_trials_run_in_process_and_say_so_in_one_line(tmp_path, monkeypatch, capsys):
    from enas.trials import engines

    monkeypatch.setattr(engines, "ray_available", lambda: False)
    monkeypatch.setattr(trials_module, "ray_available", lambda: False)
    multi_trial_search(compose_config("search", [*TINY, "strategy=random", "multi_trial.trials=2",
                                                 "multi_trial.engine=auto", "multi_trial.workers=2"], tmp_path))
    notes = [line for line in capsys.readouterr().out.splitlines() if "Ray is not installed" in line]
    assert len(notes) == 1 and "pip install 'enas[ray]'" in notes[0] and len(_trials(tmp_path)) == 2
    with pytest.raises(ValueError, match="multi_trial.engine=ray needs Ray"):
        multi_trial_search(compose_config("search", [*TINY, "strategy=random", "multi_trial.engine=ray"], tmp_path / "r"))
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_the_child_recipe_benchmark_ranks_the_same_cells_under_each_recipe(tmp_path, monkeypatch, capsys):
    from conftest import shared_data
    from benchmarks import child_recipe

    nb201 = shared_data("nasbench201")
    monkeypatch.setattr(sys, "argv", [
        "child_recipe", "--nb201", str(nb201), "--cells", "3", "--workers", "1", "--out", str(tmp_path / "r.json"),
        "data=embedded", "debug=cpu_tiny", "space.C=4", "multi_trial.epochs=1", "multi_trial.engine=local"])
    child_recipe.main()
    out = capsys.readouterr().out
    record = json.loads((tmp_path / "r.json").read_text())
    assert [r["recipe"] for r in record["results"]] == ["shipped", "low_res"]
    assert all(len(r["scores"]) == 3 and all(0.0 <= s <= 1.0 for s in r["scores"]) for r in record["results"])
    assert record["results"][1]["overrides"][0] == "data.resize=16"
    table = child_recipe.nb201_table(nb201)
    median = sorted(row["cifar10_test_acc"] for row in table.rows.values())[len(table.rows) // 2]
    assert all(acc >= median for acc in record["cifar10_test_acc"])  # the better half of the space
    assert "low_res" in out and "NB201 12 ep" in out
