"""Every registered space gets the same checks for free (timm's test_models.py pattern)."""
import json

import pytest
import torch
from torch import nn

import supernet as S
from enas.search import shared_weights_step

# Tiny versions of each built-in space, and an input for it. A new space must add itself here.
TINY = {
    "macro": (dict(num_layers=3, out_channels=8), lambda: torch.randn(4, 3, 32, 32)),
    "micro": (dict(num_layers=1, out_channels=8, num_nodes=3, aux_head=True), lambda: torch.randn(4, 3, 32, 32)),
    "nb201": (dict(C=4, N=1), lambda: torch.randn(4, 3, 32, 32)),
    "rnn": (dict(vocab_size=50, hidden=8, num_nodes=4), lambda: torch.randint(0, 50, (6, 3))),
}


def _output(out):
    return out[0] if isinstance(out, tuple) else out


def test_every_registered_space_has_a_tiny_config():
    assert set(S.list_spaces()) <= set(TINY), f"add tiny kwargs for {set(S.list_spaces()) - set(TINY)}"


@pytest.mark.parametrize("name", S.list_spaces())
def test_forward_backward_on_a_random_architecture(name):
    kwargs, make_input = TINY[name]
    model = S.create_space(name, **kwargs)
    decs = S.decisions(model)
    assert decs and all(d.size >= 1 for d in decs)
    S.activate(model, S.random_architecture(decs))
    _output(model(make_input())).float().pow(2).mean().backward()
    assert any(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", S.list_spaces())
def test_standalone_child_matches_the_supernet(name):
    kwargs, make_input = TINY[name]
    model = S.create_space(name, **kwargs)
    for seed in range(3):
        arch = S.random_architecture(model, __import__("random").Random(seed))
        S.activate(model, arch)
        child = S.freeze(model, arch)
        assert S.count_parameters(child) < S.count_parameters(model)
        model.eval(), child.eval()
        x = make_input()
        with torch.no_grad():
            torch.testing.assert_close(_output(child(x)), _output(model(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", S.list_spaces())
def test_architecture_json_round_trip(name, tmp_path):
    kwargs, _ = TINY[name]
    model = S.create_space(name, **kwargs)
    arch = S.random_architecture(model)
    S.save_architecture(tmp_path / "a.json", arch)
    loaded = S.load_architecture(tmp_path / "a.json", model)
    assert loaded == S.validate_architecture(model, json.loads(json.dumps(arch)))


def test_create_space_rejects_unknown_names_and_options():
    with pytest.raises(KeyError, match="unknown search space 'mikro'.*micro"):
        S.create_space("mikro")
    with pytest.raises(TypeError, match="no option 'num_cells'.*num_layers"):
        S.create_space("micro", num_cells=3)
    assert S.create_space("micro", num_layers=None, out_channels=8, num_nodes=2) is not None  # None = default


def test_micro_decisions_follow_the_paper():
    model = S.create_space("micro", num_layers=1, out_channels=8, num_nodes=5)
    decs = S.decisions(model)
    assert len(decs) == 2 * 5 * 4  # normal + reduction cell, 5 nodes, (2 inputs + 2 ops) each
    for cell in ("normal", "reduce"):
        for i in range(5):
            node = {d.label.rsplit("/", 1)[1]: d for d in decs if d.node == f"{cell}/node{i}"}
            assert list(node) == ["input0", "input1", "op0", "op1"]  # the official controller's order
            assert node["input0"].size == i + 2 and node["input0"].n_chosen == 1
            assert node["op0"].options == ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
    # The same decisions at any depth, so a searched cell retrains in a deeper network.
    deep = S.create_space("micro", num_layers=6, out_channels=8, num_nodes=5)
    assert S.decisions(deep) == tuple(sorted(decs, key=lambda d: not d.label.startswith("normal")))


def test_micro_network_shape_follows_the_paper():
    model = S.create_space("micro", num_layers=6, out_channels=20)
    assert model.pool_layers == (2, 5) and len(model.layers) == 8
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("ReductionLayer") == 2 and kinds[2] == kinds[5] == "ReductionLayer"
    assert model.classifier.in_features == 80  # 20 -> 40 -> 80 channels


class _LossTask:
    def loss(self, model, batch):
        out = model(batch)
        out = out[0] if isinstance(out, tuple) else out
        return out.pow(2).mean(), torch.zeros(())


def test_micro_shared_weights_step_trains_only_the_sampled_ops():
    model = S.create_space("micro", num_layers=1, out_channels=8, num_nodes=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    arch = S.random_architecture(model)
    before = {k: v.clone() for k, v in model.named_parameters()}
    shared_weights_step(model, _LossTask(), torch.randn(4, 3, 32, 32), opt, 5.0, arch)
    chosen = 0
    for module in model.modules():
        if isinstance(module, S.LayerChoice):
            for name in module.names:
                params = list(module[name].named_parameters())
                changed = any(not torch.equal(p, before[n]) for n, p in model.named_parameters()
                              if any(p is q for _, q in params))
                assert changed == (name == module.active_name and bool(params)), (module.label, name)
                chosen += changed
    assert chosen > 0


@pytest.mark.parametrize("name, kwargs, message", [
    ("nb201", {"C": 0}, "nb201: C must be an integer >= 1"),
    ("nb201", {"N": -1}, "nb201: N must"),
    ("micro", {"num_nodes": 0}, "micro: num_nodes"),
    ("micro", {"ops": ["sep_conv_3x3", "conv_9x9"]}, "micro: unknown op 'conv_9x9'"),
    ("micro", {"dropout": 1.5}, "micro: dropout must be in"),
    ("macro", {"out_channels": 7}, "macro: out_channels must be even"),
    ("rnn", {"activations": ["tanh", "gelu"]}, "rnn: unknown activation 'gelu'"),
    ("rnn", {"hidden": 0}, "rnn: hidden"),
])
def test_spaces_check_their_arguments_at_construction(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        S.create_space(name, **kwargs)
