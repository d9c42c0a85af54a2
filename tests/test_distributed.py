"""Two CPU processes (gloo): one architecture per step, averaged gradients, identical weights."""
import os
import socket
import warnings

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import supernet as S
from enas.runs import distributed
from enas.search import shared_weights_step

from conftest import TINY_SEARCH, compose_config


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(rank, world, port):
    torch.set_num_threads(1)  # two processes on two cores: more threads would fight over them
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank),
                      LOCAL_RANK=str(rank))


class _Task:
    def loss(self, model, batch):
        x, y = batch
        return torch.nn.functional.cross_entropy(model(x), y), torch.zeros(())


def _steps(rank, world, port, out):
    _env(rank, world, port)
    distributed.setup(torch.device("cpu"))
    torch.manual_seed(0)  # same initial weights and the same data on every rank
    model = S.create_space("nb201", C=4, N=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for step in range(3):
        arch = distributed.broadcast(S.random_architecture(model) if distributed.is_main() else None)
        x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
        shared_weights_step(model, _Task(), distributed.shard((x, y)), opt, 5.0, arch)
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    torch.save([g.clone() for g in gathered], out / f"rank{rank}.pt")
    distributed.cleanup()


def _search(rank, world, port, out):
    _env(rank, world, port)
    cfg = compose_config("search", [*TINY_SEARCH, "trainer.epochs=1"], out / "run")
    from enas.search import search

    result = search(cfg)
    torch.save(result, out / f"search{rank}.pt")
    distributed.cleanup()


def _spawn_two(target, out):
    """Both ranks of ``target``; one retry when a rank is killed by a signal (not a Python error):
    gloo can abort a process while its peer tears down (pytorch/gloo#155), rarely, seen once in CI."""
    try:
        mp.spawn(target, args=(2, _free_port(), out), nprocs=2, join=True)
    except mp.ProcessExitedException as died:
        warnings.warn(f"retrying once after {died}")
        mp.spawn(target, args=(2, _free_port(), out), nprocs=2, join=True)


@pytest.mark.parametrize("target", [_steps, _search])
def test_two_processes_train_one_architecture_with_averaged_gradients(tmp_path, target):
    _spawn_two(target, tmp_path)
    if target is _steps:
        for rank in range(2):
            a, b = torch.load(tmp_path / f"rank{rank}.pt")
            assert torch.equal(a, b)  # both ranks hold identical weights after every step
    else:
        assert "architecture" in torch.load(tmp_path / "search0.pt", weights_only=False)
        assert torch.load(tmp_path / "search1.pt", weights_only=False) == {}
        assert (tmp_path / "run" / "architecture.json").is_file()


def _shards(rank, world, port, out):
    """Several epochs of a seeded loader, rank 0 drawing extra random numbers between them (as its
    controller phase does): each rank records the labels (= image ids) of its shards."""
    _env(rank, world, port)
    distributed.setup(torch.device("cpu"))
    from enas.data import ImageLoader

    loader = ImageLoader(torch.zeros(48, 3, 4, 4, dtype=torch.uint8), torch.arange(48), 8, torch.device("cpu"),
                         seed=3)
    seen = []
    for epoch in range(3):
        loader.set_epoch(epoch)
        seen.append(torch.cat([distributed.shard(batch)[1] for batch in loader]))
        if distributed.is_main():
            torch.rand(1000)  # the controller phase: rank 0's global random state moves on
    torch.save(seen, out / f"shards{rank}.pt")
    distributed.cleanup()


def test_every_rank_draws_the_same_order_and_the_shards_cover_each_epoch_once(tmp_path):
    _spawn_two(_shards, tmp_path)
    ranks = [torch.load(tmp_path / f"shards{r}.pt") for r in range(2)]
    for epoch in range(3):
        union = torch.cat([ranks[0][epoch], ranks[1][epoch]])
        assert sorted(union.tolist()) == list(range(48)), epoch
    assert not torch.equal(ranks[0][0], ranks[0][1])  # a fresh order each epoch


class _Linear(torch.nn.Module):
    """A space without batch norm: averaging two half-batch gradients equals the full batch's gradient."""

    def __init__(self):
        super().__init__()
        self.body = S.LayerChoice({"a": torch.nn.Linear(6, 6), "b": torch.nn.Sequential(torch.nn.Linear(6, 6),
                                                                                      torch.nn.Tanh())}, label="body")
        self.head = torch.nn.Linear(6, 3)

    def forward(self, x):
        return self.head(self.body(x))


def _linear_steps(rank, world, port, out):
    if world > 1:
        _env(rank, world, port)
        distributed.setup(torch.device("cpu"))
    torch.manual_seed(0)
    model = _Linear()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    gen = torch.Generator().manual_seed(1)
    for step in range(4):
        x, y = torch.randn(8, 6, generator=gen), torch.randint(0, 3, (8,), generator=gen)
        shared_weights_step(model, _Task(), distributed.shard((x, y)), opt, 0.0, {"body": "ab"[step % 2]})
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, out / f"linear{world}_{rank}.pt")
    if world > 1:
        distributed.cleanup()


def _alone_and_in_two(target, out, name):
    """``target`` run by one process, then by two: (the one's result, [each rank's result of the two])."""
    target(0, 1, None, out)
    _spawn_two(target, out)
    return torch.load(out / f"{name}1_0.pt"), [torch.load(out / f"{name}2_{rank}.pt") for rank in range(2)]


def test_two_processes_equal_one_process_on_the_same_global_batch(tmp_path):
    one, two = _alone_and_in_two(_linear_steps, tmp_path, "linear")
    for rank_state in two:
        for key in one:
            torch.testing.assert_close(rank_state[key], one[key], rtol=1e-5, atol=1e-6)


def _retrain_target(rank, world, port, out):
    _env(rank, world, port)
    from conftest import TINY_MICRO
    from enas.search import retrain

    cfg = compose_config("train", ["debug=cpu_tiny_train", *TINY_MICRO, f"architecture={out / 'arch.json'}"],
                         out / "train")
    result = retrain(cfg)
    torch.save({"test_acc": result["test_acc"]}, out / f"retrain{rank}.pt")


def test_enas_train_under_torchrun_is_one_data_parallel_run(tmp_path):
    import json
    model = S.create_space("micro", num_layers=1, out_channels=8, num_nodes=3)
    S.save_architecture(tmp_path / "arch.json", S.random_architecture(model), space={"name": "micro"})
    _spawn_two(_retrain_target, tmp_path)
    results = [torch.load(tmp_path / f"retrain{r}.pt") for r in range(2)]
    assert results[0] == results[1]  # the same weights on both ranks, evaluated alike
    assert json.loads((tmp_path / "train" / "results.json").read_text())["test_acc"] == results[0]["test_acc"]
    assert len((tmp_path / "train" / "metrics.csv").read_text().splitlines()) == 3  # one writer: 2 epochs + header


def _scores(rank, world, port, out):
    """A reward scored across ranks: each rank takes its shard of the same batches, the sums are added."""
    if world > 1:
        _env(rank, world, port)
        distributed.setup(torch.device("cpu"))
    from enas.data import ImageLoader
    from enas.tasks import ImageClassification

    torch.manual_seed(0)
    model = _Linear()  # no batch norm: a half batch's logits are the full batch's
    S.activate(model, {"body": "a"})
    gen = torch.Generator().manual_seed(2)
    valid = ImageLoader(torch.zeros(4, 3, 2, 2, dtype=torch.uint8), torch.zeros(4, dtype=torch.long), 4,
                        torch.device("cpu"))
    task = ImageClassification(valid, valid, reward="likelihood")
    batches = [(torch.randn(10, 6, generator=gen), torch.randint(0, 3, (10,), generator=gen)) for _ in range(3)]
    torch.save(task.score(model, batches, across_ranks=world > 1), out / f"score{world}_{rank}.pt")
    if world > 1:
        distributed.cleanup()


def test_a_reward_scored_across_ranks_equals_the_one_process_score(tmp_path):
    one, two = _alone_and_in_two(_scores, tmp_path, "score")
    for rank_score in two:
        assert rank_score.keys() == one.keys()
        for key in one:
            assert rank_score[key] == pytest.approx(one[key], rel=1e-6), key


def test_sync_bn_is_a_no_op_alone_and_a_clear_error_off_cuda(monkeypatch):
    model = S.create_space("nb201", C=4, N=1)
    assert distributed.sync_batchnorm(model, True, torch.device("cpu")) is model  # one process: nothing to sync
    monkeypatch.setattr(distributed, "world_size", lambda: 2)
    with pytest.raises(ValueError, match="trainer.sync_bn=true needs CUDA"):
        distributed.sync_batchnorm(model, True, torch.device("cpu"))
    assert distributed.sync_batchnorm(model, False, torch.device("cpu")) is model
