"""The ENAS controller and REINFORCE: exact probabilities, learning on a toy reward, baseline math."""
import itertools

import pytest
import torch
from torch import nn

import supernet as S
from enas.policies import Controller
from enas.policies import EMABaseline, controller_step, reinforce_loss


class ToySpace(nn.Module):
    """One layer decision, one any-subset decision and one 2-of-3 input decision."""

    def __init__(self):
        super().__init__()
        self.op = S.LayerChoice({k: nn.Identity() for k in "abcd"}, label="n0/op")
        self.skip = S.InputChoice(2, None, label="n1/skip", candidates=["in", "n0"])
        self.pick = S.InputChoice(3, 2, label="n2/input", candidates=["in", "n0", "n1"])


def all_architectures():
    for op, skip, pick in itertools.product("abcd", [[], [0], [1], [0, 1]], [[0, 1], [0, 2], [1, 2]]):
        yield {"n0/op": op, "n1/skip": skip, "n2/input": pick}


@pytest.mark.parametrize("tanh_constant", [None, 1.1])
def test_log_probabilities_are_exact(tanh_constant):
    controller = Controller(S.decisions(ToySpace()), lstm_size=16, tanh_constant=tanh_constant, temperature=5.0)
    archs = list(all_architectures())
    assert len(archs) == S.count_architectures(S.decisions(ToySpace()))
    total = controller.log_prob(archs).exp().sum().item()
    assert total == pytest.approx(1.0, abs=1e-5)
    samples = controller.sample_many(16)
    torch.testing.assert_close(controller.log_prob(samples.archs), samples.log_prob)
    for arch in samples.archs:
        S.validate_architecture(S.decisions(ToySpace()), arch)


def test_sample_returns_an_architecture_with_differentiable_log_prob_and_entropy():
    controller = Controller(S.decisions(ToySpace()), lstm_size=16)
    arch, log_prob, entropy = controller.sample()
    assert set(arch) == {"n0/op", "n1/skip", "n2/input"}
    (log_prob + entropy).backward()
    assert all(p.grad is not None for p in controller.attn_v.parameters())
    # the 2-of-3 input choice masks what it already took: its entropy's gradient must stay finite
    assert all(torch.isfinite(p.grad).all() for p in controller.parameters() if p.grad is not None)
    controller.zero_grad()
    controller.sample_many(4).entropy.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in controller.parameters() if p.grad is not None)


def test_diverged_controller_stops_with_a_clear_error():
    controller = Controller(S.decisions(ToySpace()), lstm_size=16)
    with torch.no_grad():
        next(iter(controller.heads.values())).weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="logits are not finite"):
        controller.sample_many(2)


def test_micro_controller_reads_inputs_by_attention_and_continues_into_the_reduction_cell():
    decs = S.decisions(S.create_space("micro", num_layers=3, out_channels=8, num_nodes=5))
    controller = Controller(decs)
    first = {d.label: before for d, (before, _) in zip(decs, controller._plan) if before}
    assert first == {"normal/node0/input0": ["normal/input0", "normal/input1"],
                     "reduce/node0/input0": ["reduce/input0", "reduce/input1"]}
    emitted = [after for _, after in controller._plan if after]
    assert emitted == [f"{c}/node{i}" for c in ("normal", "reduce") for i in range(4)]  # node4 is never an input
    assert not any(key.endswith("input0") for key in controller.heads)  # attention, not per-decision heads
    samples = controller.sample_many(3)
    assert samples.log_prob.shape == (3,) and samples.entropy.min() > 0


def test_reinforce_moves_the_policy_toward_a_rewarded_choice():
    torch.manual_seed(1)
    decs = S.decisions(ToySpace())
    controller = Controller(decs, lstm_size=16, tanh_constant=2.5, op_tanh_reduce=1.0)
    optimizer = torch.optim.Adam(controller.parameters(), lr=0.02, betas=(0.0, 0.999), eps=1e-3)
    baseline = EMABaseline(0.9)

    def p_c():
        archs = [a for a in all_architectures() if a["n0/op"] == "c"]
        return controller.log_prob(archs).exp().sum().item()

    start = p_c()
    reward = lambda arch: 1.0 if arch["n0/op"] == "c" else 0.0
    for _ in range(60):
        stats = controller_step(controller, optimizer, baseline, reward, num_archs=8, entropy_weight=1e-4)
    assert start < 0.4
    assert p_c() > 0.8, (start, p_c())
    assert 0.5 < stats["reward"] <= 1.0


def test_ema_baseline_starts_at_the_first_reward_and_decays():
    b = EMABaseline(0.99)
    assert b.update(0.5) == 0.5
    assert b.update(1.5) == pytest.approx(0.5 + 0.01 * 1.0)
    restored = EMABaseline()
    restored.load_state_dict(b.state_dict())
    assert restored.value == b.value and restored.decay == 0.99


def test_reinforce_loss_on_hand_checked_inputs():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    loss = reinforce_loss(log_prob, torch.tensor([0.5, -0.25]), torch.tensor([0.1, 0.3]), skip_weight=0.8)
    assert loss.item() == pytest.approx(((1.0 * 0.5 + 0.8 * 0.1) + (-2.0 * 0.25 + 0.8 * 0.3)) / 2)
    loss.backward()
    torch.testing.assert_close(log_prob.grad, torch.tensor([-0.25, 0.125]))


def test_entropy_bonus_enters_the_reward_and_the_baseline():
    controller = Controller(S.decisions(ToySpace()), lstm_size=8)
    optimizer = torch.optim.Adam(controller.parameters())
    baseline = EMABaseline(0.0)  # decay 0: the baseline is the last total reward
    stats = controller_step(controller, optimizer, baseline, lambda a: 0.5, num_archs=1, entropy_weight=0.1)
    assert baseline.value == pytest.approx(0.5 + 0.1 * stats["entropy"], rel=1e-5)


def test_a_space_that_picks_a_node_before_its_decisions_gets_told_how_to_fix_it():
    from supernet import InputChoice, LayerChoice, decisions

    class OutOfOrder(nn.Module):
        def __init__(self):
            super().__init__()
            self.pick = InputChoice(2, n_chosen=1, label="c/input", candidates=["a", "b"])  # before a and b
            self.a = LayerChoice({"x": nn.Identity(), "y": nn.Identity()}, label="a/op")
            self.b = LayerChoice({"x": nn.Identity(), "y": nn.Identity()}, label="b/op")

    with pytest.raises(ValueError, match=r"picks node 'a' before .* topological order"):
        Controller(decisions(OutOfOrder()))
