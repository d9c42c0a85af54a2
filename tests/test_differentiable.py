"""Differentiable search: the primitives' relaxed modes, strategy=darts and strategy=gdas."""
import csv
import json
from collections import OrderedDict

import pytest
import torch
from torch import nn

import supernet as S
from enas.config import DifferentiableConfig
from enas import SimpleTask, search_model
from enas.strategies.differentiable import DARTSStrategy, GDASStrategy, beta_decay
from enas.search import search
from enas.config import validate_values
from supernet.ops import Zero

from conftest import TINY_SEARCH, compose_config, straight_and_resumed
from test_evolution import TINY_MACRO, TINY_NB201

CPU = torch.device("cpu")


class Counted(nn.Module):
    """An op that counts its calls: what ran, and how often."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.calls = fn, 0

    def forward(self, x):
        self.calls += 1
        return self.fn(x)


class Toy(nn.Module):
    """x -> one of (identity, negate, none) + a trained bias; the target 3x prefers identity (loss 4x^2 vs
    16x^2 for negate and 9x^2 for none)."""

    def __init__(self):
        super().__init__()
        self.op = S.LayerChoice(OrderedDict([("identity", Counted(lambda x: x)), ("negate", Counted(lambda x: -x)),
                                             ("none", Zero())]), label="op")
        self.bias = nn.Parameter(torch.zeros(()))  # something for the shared-weights optimizer to train

    def forward(self, x):
        return self.op(x) + self.bias


def toy_task():
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    loss = lambda m, b: nn.functional.mse_loss(m(b[0]), b[1])  # noqa: E731
    return SimpleTask([(x, 3 * x)], loss, lambda m: -loss(m, (x, 3 * x)).detach().item(), steps_per_epoch=20,
                      valid_data=[(x, 3 * x)])


# -- the primitives' relaxed modes ---------------------------------------------------------------------------
def test_weighted_layer_choice_is_the_explicit_weighted_sum_and_activate_leaves_it():
    ops = OrderedDict([("a", nn.Linear(3, 3)), ("b", nn.Linear(3, 3)), ("none", Zero()), ("c", nn.Tanh())])
    choice = S.LayerChoice(ops, label="op")
    x, w = torch.randn(5, 3), torch.tensor([0.1, 0.2, 0.3, 0.4])
    arch = S.activate_weighted(choice, {"op": w})
    expected = w[0] * ops["a"](x) + w[1] * ops["b"](x) + w[3] * torch.tanh(x)
    assert torch.allclose(choice(x), expected, atol=1e-6)
    assert arch == {"op": "c"}  # what a space's code sees: the heaviest option
    assert S.chosen_module(choice) is choice and not S.is_zero(choice)  # all candidates run: nothing to skip
    S.activate(choice, {"op": "b"})  # back to one path, exactly
    assert choice.relaxed is None and torch.equal(choice(x), ops["b"](x))


@pytest.mark.parametrize("n_chosen, reduction, scale", [(1, "sum", 1), (2, "sum", 2), (2, "mean", 1)])
def test_weighted_input_choice_sums_its_inputs_and_sees_the_top_k(n_chosen, reduction, scale):
    choice = S.InputChoice(3, n_chosen, reduction, label="in")
    xs, w = [torch.randn(2, 4) for _ in range(3)], torch.tensor([0.5, 0.2, 0.3])
    arch = S.activate_weighted(choice, {"in": w})
    assert torch.allclose(choice(xs), scale * (0.5 * xs[0] + 0.2 * xs[1] + 0.3 * xs[2]))
    assert arch == {"in": [0, 2][:n_chosen]} and list(choice.chosen) == arch["in"]


def test_sampled_mode_runs_only_the_chosen_candidate_times_its_weight():
    model = Toy()
    w = torch.tensor([0.0, 1.0, 0.0], requires_grad=True)
    x = torch.randn(4, 4)
    S.activate_sampled(model, {"op": "negate"}, {"op": w})
    out = model(x)
    assert [model.op["identity"].calls, model.op["negate"].calls] == [0, 1]
    assert S.chosen_module(model.op) is model.op["negate"]  # a space sees the sampled path
    out.sum().backward()
    assert torch.allclose(w.grad, torch.tensor([0.0, -x.sum(), 0.0]))  # d out / d w_negate = -x


def test_unrelaxable_input_choices_are_named():
    class Concat(nn.Module):
        def __init__(self):
            super().__init__()
            self.pick = S.InputChoice(3, 1, "concat", label="cell/pick")

        def forward(self, xs):
            return self.pick(xs)

    with pytest.raises(S.ArchitectureError, match="'cell/pick' cannot be relaxed.*'concat'"):
        S.activate_weighted(Concat(), {"cell/pick": torch.ones(3) / 3})
    with pytest.raises(ValueError, match="strategy=darts cannot relax decision 'layer_1/skip'.*n_chosen=None"):
        DARTSStrategy(S.decisions(S.create_space("macro", num_layers=3, out_channels=4)), CPU)
    with pytest.raises(ValueError, match="strategy=gdas cannot relax decision 'layer_1/skip'"):
        search(compose_config("search", [*TINY_MACRO, "strategy=gdas"]))


# -- the strategies --------------------------------------------------------------------------------------------
def test_gdas_step_runs_only_the_sampled_op_and_its_gradient_reaches_every_logit():
    model, task = Toy(), toy_task()
    gdas = GDASStrategy(S.decisions(model), CPU, seed=1)
    calls = lambda: [model.op["identity"].calls, model.op["negate"].calls]  # noqa: E731
    for _ in range(20):  # until the sample is an op that computes something (none never runs)
        gdas.relax_for_architecture(model)
        if model.op.active_name != "none":
            break
    loss, _ = task.loss(model, next(iter(task.validation_batches())))
    assert sorted(calls()) == [0, 1]  # only the sampled op ran
    grad, = torch.autograd.grad(loss, gdas.alphas)
    # straight-through: the Gumbel softmax passes the sampled op's gradient to every logit (summing to zero)
    assert (grad != 0).all() and abs(float(grad.sum())) < 1e-6
    # A whole step (architecture step, then the shared-weights forward): at most two single-path forwards
    model.op["identity"].calls = model.op["negate"].calls = 0
    gdas.relaxed_step(model, task)
    model(torch.randn(2, 4))
    assert sum(calls()) <= 2
    model.op["identity"].calls = model.op["negate"].calls = 0
    DARTSStrategy(S.decisions(model), CPU).relaxed_step(model, task)
    model(torch.randn(2, 4))
    assert calls() == [2, 2]  # DARTS runs every candidate in both


@pytest.mark.parametrize("cls", [DARTSStrategy, GDASStrategy])
def test_alpha_moves_toward_the_op_that_lowers_the_validation_loss(cls):
    model, task = Toy(), toy_task()
    strategy = cls(S.decisions(model), CPU, seed=0, settings=DifferentiableConfig(lr=0.05))
    before = strategy.policy_probabilities()["op"]
    for _ in range(60):
        strategy.architecture_step(model, task)
    after = strategy.policy_probabilities()["op"]
    assert after[0] > before[0] + 0.2 and after[1] < before[1]  # identity up, negate down
    assert strategy.argmax_architecture() == {"op": "identity"}
    assert strategy.candidates(5)[0] == {"op": "identity"}


def test_beta_decay_is_logsumexp_and_pulls_the_dominant_logit_hardest():
    alphas = [torch.tensor([0.0, 1.0, 2.0], requires_grad=True), torch.tensor([0.5, -0.5], requires_grad=True)]
    value = beta_decay(alphas)
    assert torch.allclose(value, (torch.logsumexp(alphas[0], 0) + torch.logsumexp(alphas[1], 0)) / 2)
    value.backward()
    assert torch.allclose(alphas[0].grad, alphas[0].detach().softmax(0) / 2)


def test_settings_out_of_range_are_named():
    cfg = compose_config("search", [*TINY_SEARCH, "strategy=darts", "darts.regulariser=drnas", "darts.tau_min=20"])
    with pytest.raises(ValueError, match="darts.regulariser='drnas' must be one of none, beta.*darts.tau_min=20"):
        validate_values(cfg)


# -- tiny searches through the real configs -------------------------------------------------------------------
@pytest.mark.parametrize("strategy", ["darts", "gdas"])
@pytest.mark.parametrize("space", ["micro", "nb201"])
def test_tiny_search_runs_learns_and_derives(tmp_path, strategy, space):
    tiny = {"micro": TINY_SEARCH, "nb201": TINY_NB201}[space]
    extra = ["darts.regulariser=beta"] if strategy == "darts" and space == "nb201" else []
    result = search(compose_config("search", [*tiny, f"strategy={strategy}", *extra], tmp_path))
    model = S.create_space(space, **json.loads((tmp_path / "architecture.json").read_text())["space"]["kwargs"])
    assert S.validate_architecture(model, result["architecture"]) == result["architecture"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [float(r["arch_steps"]) for r in rows] == [3.0, 3.0]  # one architecture step per shared step
    assert all(float(r["arch_valid_loss"]) > 0 for r in rows)
    if strategy == "gdas":
        assert [float(r["tau"]) for r in rows] == pytest.approx([10.0, 0.1])  # linear, tau_max to tau_min
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert state["strategy"] == strategy and len(state["controller"]["alphas"]) == len(S.decisions(model))
    candidates = list(csv.DictReader(open(tmp_path / "derive_candidates.csv")))
    argmax = {d.label: _top(d, a) for d, a in zip(S.decisions(model), state["controller"]["alphas"])}
    assert any(json.loads(c["architecture"]) == argmax for c in candidates)  # derive scored the argmax
    assert (tmp_path / "policy.jsonl").is_file()


def _top(d, alpha):
    return d.options[int(alpha.argmax())] if d.kind == "layer" else sorted(alpha.topk(d.n_chosen).indices.tolist())


@pytest.mark.parametrize("space", ["micro", "nb201"])
def test_a_killed_and_resumed_gdas_search_ends_equal_to_an_uninterrupted_one(tmp_path, monkeypatch, space):
    tiny = {"micro": TINY_SEARCH, "nb201": TINY_NB201}[space]
    straight, resumed = straight_and_resumed(tmp_path, monkeypatch, [*tiny, "strategy=gdas", "trainer.epochs=3"])
    assert resumed["epoch"] == straight["epoch"] == 2
    for key, value in straight["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    a, b = straight["controller"], resumed["controller"]
    assert all(torch.equal(x, y) for x, y in zip(a["alphas"], b["alphas"]))
    assert torch.equal(a["generator"], b["generator"]) and a["rng"] == b["rng"]
    for k, state in a["optimizer"]["state"].items():
        assert all(torch.equal(v, b["optimizer"]["state"][k][n]) for n, v in state.items())
    picked = [json.loads((tmp_path / name / "architecture.json").read_text())["architecture"]
              for name in ("straight", "killed")]
    assert picked[0] == picked[1]


def test_search_model_runs_gdas_on_a_users_supernet():
    result = search_model(Toy(), toy_task(), epochs=3, strategy="gdas", seed=0, trainer={"max_steps_per_epoch": 20},
                          darts={"lr": 0.05}, derive_settings={"num_samples": 4, "greedy": False, "top_k": 2})
    assert result["architecture"] == {"op": "identity"}
    assert result["strategy"].argmax_architecture() == {"op": "identity"}
    assert result["history"][-1]["arch_steps"] == 20.0
