"""The ENAS recurrent cell space and the PTB language-modelling task."""
import math

import pytest
import torch
import torch.nn.functional as F

import supernet as S
from enas import Controller
from enas.data import batchify, load_ptb
from enas.tasks import LanguageModeling

from conftest import compose_config, shared_data


def tiny(**kw):
    return S.create_space("rnn", **{"vocab_size": 30, "hidden": 6, "num_nodes": 4, **kw})


def test_decisions_follow_the_official_controller_order():
    decs = S.decisions(S.create_space("rnn", vocab_size=20, hidden=4, num_nodes=12))
    assert [d.label for d in decs[:5]] == ["node0/activation", "node1/input", "node1/activation", "node2/input",
                                          "node2/activation"]
    assert len(decs) == 1 + 2 * 11
    for i in range(1, 12):
        (d,) = [d for d in decs if d.label == f"node{i}/input"]
        assert d.options == tuple(f"node{j}" for j in range(i)) and d.n_chosen == 1
    assert all(d.options == ("tanh", "relu", "identity", "sigmoid") for d in decs if d.kind == "layer")
    # the controller attends over earlier nodes, continuing one LSTM through all 23 decisions
    samples = Controller(decs, lstm_size=100, temperature=5.0, tanh_constant=2.5, op_tanh_reduce=1.0).sample_many(4)
    assert all(S.validate_architecture(decs, a) for a in samples.archs)


def test_cell_computes_highway_nodes_and_averages_loose_ends():
    model = tiny(num_nodes=3)
    arch = {"node0/activation": "tanh", "node1/input": [0], "node1/activation": "identity",
            "node2/input": [0], "node2/activation": "sigmoid"}
    S.activate(model, arch)
    cell = model.cell
    x, h = torch.randn(2, 6), torch.randn(2, 6)
    w0 = cell.nodes[0].activation["tanh"].weight.weight
    hh, c = (torch.cat([x, h], 1) @ w0.t()).chunk(2, 1)
    s0 = h + torch.sigmoid(c) * (torch.tanh(hh) - h)
    expected = []
    for i, act in ((1, lambda v: v), (2, torch.sigmoid)):
        w = cell.nodes[i].activation[arch[f"node{i}/activation"]].weight.weight
        hh, c = (s0 @ w.t()).chunk(2, 1)
        expected.append(s0 + torch.sigmoid(c) * (act(hh) - s0))
    assert cell.loose_ends() == [1, 2]
    torch.testing.assert_close(cell(x, h), (expected[0] + expected[1]) / 2)


def test_only_the_sampled_activations_run_and_learn():
    model = tiny()
    arch = S.random_architecture(model)
    S.activate(model, arch)
    model.train()
    logits, _ = model(torch.randint(0, 30, (5, 2)))
    logits.logsumexp(-1).mean().backward()
    for node in model.cell.nodes:
        for name in node.activation.names:
            has_grad = node.activation[name].weight.weight.grad is not None
            assert has_grad == (name == node.activation.active_name)


def test_reward_is_80_over_perplexity():
    class Uniform(torch.nn.Module):  # predicts every word with probability 1/V: perplexity V
        def forward(self, x, hidden=None):
            return torch.zeros(*x.shape, 40), torch.zeros(x.shape[1], 1)

    data = batchify(torch.randint(0, 40, (2000,)), 4, torch.device("cpu"))
    task = LanguageModeling(data, data, None, bptt=10, eval_batch_size=4, reward_batches=2)
    assert task.reward(Uniform()) == pytest.approx(80 / 40)
    assert task.score(Uniform(), task.fixed_batches(3))["ppl"] == pytest.approx(40)


def test_variable_length_bptt_carries_the_state():
    data = batchify(torch.arange(4000) % 30, 2, torch.device("cpu"))
    task = LanguageModeling(data, data, None, bptt=20, eval_batch_size=2)
    lengths = []
    batches = task.train_batches()
    for _ in range(50):
        x, y, scale = next(batches)
        assert torch.equal(x[1:], y[:-1]) and scale == pytest.approx(len(x) / 20)
        lengths.append(len(x))
    assert len(set(lengths)) > 5 and 15 < sum(lengths) / len(lengths) < 25
    model = tiny()
    S.activate(model, S.random_architecture(model))
    task.loss(model, next(batches))
    assert task.hidden is not None and not task.hidden.requires_grad


def test_ptb_loads_and_a_language_model_trains_a_few_batches():
    root = shared_data("ptb")
    splits, vocab = load_ptb(str(root))
    assert len(vocab) == 10000 and len(splits["train"]) == 929589 and len(splits["valid"]) == 73760
    model = S.create_space("rnn", vocab_size=10000, hidden=32, num_nodes=4)
    S.activate(model, S.random_architecture(model))
    task = LanguageModeling(batchify(splits["train"][:20000], 8, torch.device("cpu")),
                            batchify(splits["valid"][:5000], 4, torch.device("cpu")), None, bptt=20, eval_batch_size=4)
    opt = torch.optim.SGD(model.parameters(), lr=20.0)
    batches, losses = task.train_batches(), []
    model.train()
    for _ in range(8):
        loss, ppl = task.loss(model, next(batches))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()
        losses.append(math.log(ppl.item()))
    assert losses[0] == pytest.approx(math.log(10000), abs=0.5)
    assert min(losses[-3:]) < losses[0]
    assert 0 < task.reward(model) < 80 / 100


def test_missing_ptb_files_are_named(tmp_path):
    (tmp_path / "ptb.train.txt").write_text(" a b \n")
    with pytest.raises(FileNotFoundError, match="ptb.valid.txt, ptb.test.txt"):
        load_ptb(str(tmp_path))


def test_ptb_search_runs_from_the_config(tmp_path):
    root = shared_data("ptb")
    cfg = compose_config("search", [
        "experiment=enas_ptb_paper", "device=cpu", f"data.root={root}", "space.hidden=16", "space.num_nodes=3",
        "data.train_subset=6000", "data.valid_subset=2000", "trainer.epochs=1", "trainer.max_steps_per_epoch=4",
        "trainer.progress=false", "controller.train_steps=2", "controller.num_aggregate=2", "derive.num_samples=3",
        "derive.num_batches=2", "derive.top_k=1"], tmp_path)
    from enas.search import search

    result = search(cfg)
    assert result["derive_valid_ppl"] > 1 and (tmp_path / "architecture.json").is_file()
    assert "h_t = mean(" in (tmp_path / "architecture.txt").read_text()
