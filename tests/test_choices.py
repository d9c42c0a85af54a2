"""The search-space primitives on tiny spaces written inside the tests (NNI test_choice.py style)."""
import json

import pytest
import torch
from torch import nn

import supernet as S


class TwoChoiceNet(nn.Module):
    """x -> op0 (one of three linears) -> node1 picks any subset of [x, node0] (sum) -> head."""

    def __init__(self):
        super().__init__()
        self.op0 = S.LayerChoice({"small": nn.Linear(4, 4), "big": nn.Sequential(nn.Linear(4, 4), nn.Tanh()),
                                  "skip": nn.Identity()}, label="node0/op")
        self.pick = S.InputChoice(2, 1, label="node1/input", candidates=["x", "node0"])
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.pick([x, self.op0(x)]))


def test_decisions_are_plain_data_in_registration_order():
    decs = S.decisions(TwoChoiceNet())
    assert [d.label for d in decs] == ["node0/op", "node1/input"]
    assert decs[0].kind == "layer" and decs[0].options == ("small", "big", "skip")
    assert decs[1].kind == "input" and decs[1].options == ("x", "node0") and decs[1].named_inputs
    assert decs[1].node == "node1"
    json.dumps([d.to_dict() for d in decs])  # plain data
    assert S.count_architectures(decs) == 6


def test_forward_before_activation_names_the_choice():
    with pytest.raises(RuntimeError, match="node0/op"):
        TwoChoiceNet()(torch.randn(2, 4))


@pytest.mark.parametrize("arch, message", [
    ({"node0/op": "huge", "node1/input": [0]}, r"'node0/op'.*'huge' is not one of"),
    ({"node0/op": "small", "node1/input": [2]}, r"'node1/input'.*index 2 is out of range"),
    ({"node0/op": "small", "node1/input": [0, 1]}, r"'node1/input'.*exactly 1"),
    ({"node0/op": "small"}, r"missing decision 'node1/input'"),
    ({"node0/op": "small", "node1/input": [0], "node9/op": "x"}, r"unknown decision 'node9/op'"),
])
def test_invalid_architecture_is_rejected_with_the_decision_named(arch, message):
    with pytest.raises(S.ArchitectureError, match=message):
        S.activate(TwoChoiceNet(), arch)


def test_only_the_active_path_runs():
    net = TwoChoiceNet()
    ran = []
    for name in ("small", "big", "skip"):
        net.op0[name].register_forward_hook(lambda m, i, o, name=name: ran.append(name))
    S.activate(net, {"node0/op": "big", "node1/input": [1]})
    net(torch.randn(3, 4))
    assert ran == ["big"]


def test_only_sampled_parameters_get_gradients_and_change():
    net = TwoChoiceNet()
    S.activate(net, {"node0/op": "small", "node1/input": [1]})
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        net(torch.randn(5, 4)).pow(2).sum().backward()
        opt.step()
    for name, p in net.named_parameters():
        on_path = name.startswith(("op0.small", "head"))
        assert (p.grad is not None) == on_path, name
        assert (not torch.equal(p, before[name])) == on_path, name


def test_architecture_json_round_trip(tmp_path):
    net = TwoChoiceNet()
    arch = S.random_architecture(net)
    path = S.save_architecture(tmp_path / "a.json", arch, note="x")
    assert S.load_architecture(path, net) == S.validate_architecture(net, arch)
    assert json.loads(path.read_text())["note"] == "x"


def test_bad_architecture_file_names_the_file_and_decision(tmp_path):
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(S.ArchitectureError, match="bad.json"):
        S.load_architecture(tmp_path / "bad.json")
    (tmp_path / "wrong.json").write_text(json.dumps({"architecture": {"node0/op": "tiny", "node1/input": [0]}}))
    with pytest.raises(S.ArchitectureError, match=r"wrong.json.*node0/op.*tiny"):
        S.load_architecture(tmp_path / "wrong.json", TwoChoiceNet())
    with pytest.raises(FileNotFoundError, match="missing.json"):
        S.load_architecture(tmp_path / "missing.json")


def test_freeze_gives_a_plain_module_with_the_same_output_and_fewer_parameters():
    net = TwoChoiceNet()
    arch = {"node0/op": "big", "node1/input": [1]}
    S.activate(net, arch)
    child = S.freeze(net, arch)
    assert not any(isinstance(m, (S.LayerChoice, S.InputChoice)) for m in child.modules())
    x = torch.randn(3, 4)
    torch.testing.assert_close(child(x), net(x), rtol=0, atol=0)
    assert S.count_parameters(child) == 4 * 4 + 4 + 4 * 2 + 2


def test_repeated_label_is_one_decision_and_must_agree():
    class Shared(nn.Module):
        def __init__(self, second_options=("a", "b")):
            super().__init__()
            self.c1 = S.LayerChoice({"a": nn.Identity(), "b": nn.ReLU()}, label="cell/op")
            self.c2 = S.LayerChoice({k: nn.Identity() for k in second_options}, label="cell/op")

    net = Shared()
    assert len(S.decisions(net)) == 1
    S.activate(net, {"cell/op": "b"})
    assert net.c1.active_name == net.c2.active_name == "b"
    with pytest.raises(ValueError, match="cell/op.*disagree"):
        S.decisions(Shared(("a", "c")))


@pytest.mark.parametrize("bad", [dict(label="has space"), dict(label="a.b")])
def test_labels_are_checked(bad):
    with pytest.raises(ValueError, match="invalid choice label"):
        S.LayerChoice([nn.Identity()], **bad)


def test_input_choice_arguments_are_checked():
    with pytest.raises(ValueError, match="reduction"):
        S.InputChoice(2, 1, "max", label="x")
    with pytest.raises(ValueError, match="n_chosen"):
        S.InputChoice(2, 3, label="x")


def test_subset_input_choice_can_choose_nothing():
    choice = S.InputChoice(3, None, label="skip")
    choice.active = ()
    assert choice([torch.ones(1)] * 3) is None
    choice.active = (0, 2)
    assert choice([torch.ones(1), torch.ones(1) * 5, torch.ones(1) * 2]).item() == 3
    assert S.decisions(nn.ModuleList([choice]))[0].n_chosen is None


def test_use_running_stats_turns_shared_bn_into_ordinary_bn():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False))
    net[1].weight.data.fill_(2.0)
    S.use_running_stats(net)
    assert net[1].track_running_stats and net[1].running_mean is not None
    assert torch.all(net[1].weight == 2.0)
