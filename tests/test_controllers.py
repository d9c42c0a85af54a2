"""The Transformer controller and the PPO / actor-critic updates, beside the LSTM and REINFORCE."""
import csv
import json
import statistics

import pytest
import torch
import torch.nn.functional as F

import supernet as S
from enas.policies.actor_critic import ValueCritic, actor_critic_step
from enas.report.benchmark import NB201Table
from enas.policies import Controller
from enas.config import ALGORITHMS as ALGORITHMS_CONFIG, CONTROLLER_KINDS as CONTROLLER_KINDS_CONFIG, ControllerConfig
from enas.policies import ALGORITHMS, CONTROLLER_KINDS, PolicyUpdate, create_controller
from enas.policies.ppo import ppo_clipped_loss, ppo_step
from enas.policies import EMABaseline
from enas.search import search
from enas.policies.transformer import CausalBlock, TransformerController

from conftest import TINY_SEARCH, compose_config, nb201_table_reward, shared_data, straight_and_resumed
from test_controller import ToySpace, all_architectures

SPACES = {"micro": dict(num_layers=1, out_channels=8, num_nodes=5), "macro": dict(num_layers=4, out_channels=8),
          "nb201": dict(C=4, N=1), "rnn": dict()}
# the NB201 proxy experiment, shrunk to seconds (its predictor, screening and combined pick switched off)
TINY_NB201 = ["experiment=nb201_cpu_proxy", "data=embedded", "debug=cpu_tiny", "space.C=4", "trainer.warmup_epochs=0",
              "benchmark=null", "controller.screen_keep=0", "predictor.enabled=false", "derive.select=shared",
              "derive.signals=[shared]", "derive.record=[]", "derive.num_samples=4"]


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("space", sorted(SPACES))
def test_transformer_samples_valid_architectures_with_the_log_prob_it_recomputes(space):
    decs = S.decisions(S.create_space(space, **SPACES[space]))
    controller = TransformerController(decs, lstm_size=32, temperature=5.0, tanh_constant=2.5, op_tanh_reduce=1.0)
    samples = controller.sample_many(6)
    for arch in samples.archs:
        S.validate_architecture(decs, arch)
    torch.testing.assert_close(controller.log_prob(samples.archs), samples.log_prob)
    torch.testing.assert_close(samples.decision_log_prob.sum(1), samples.log_prob)
    assert samples.decision_hidden.shape == (6, len(decs), 32) and (samples.entropy > 0).all()
    greedy = controller.sample_many(2, greedy=True).archs
    assert greedy[0] == greedy[1]
    S.validate_architecture(decs, greedy[0])


@pytest.mark.parametrize("tanh_constant", [None, 1.1])
def test_transformer_probabilities_are_exact_over_layer_subset_and_k_of_n_decisions(tanh_constant):
    decs = S.decisions(ToySpace())
    controller = TransformerController(decs, lstm_size=16, tanh_constant=tanh_constant, temperature=5.0)
    with torch.no_grad():  # move off the uniform start, so the check is not trivially 1
        for p in controller.parameters():
            p.add_(0.3 * torch.randn_like(p))
    assert controller.log_prob(list(all_architectures())).exp().sum().item() == pytest.approx(1.0, abs=1e-5)
    arch, log_prob, entropy = controller.sample()
    (log_prob + entropy).backward()
    assert all(torch.isfinite(p.grad).all() for p in controller.parameters() if p.grad is not None)
    assert controller.attn_query.weight.grad is not None  # input decisions read anchors by attention


def test_incremental_attention_equals_a_full_causal_pass():
    torch.manual_seed(3)
    block = CausalBlock(16, heads=4)
    tokens = torch.randn(3, 7, 16)
    cache, stepped = (None, None), []
    for t in range(7):
        out, cache = block(tokens[:, t], cache)
        stepped.append(out)
    # the same block over the whole sequence at once, with a causal mask
    n, T, W = tokens.shape
    q, k, v = block.qkv(block.norm_attn(tokens)).view(n, T, 3, 4, W // 4).permute(2, 0, 3, 1, 4)
    attended = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(n, T, W)
    full = tokens + block.proj(attended)
    full = full + block.mlp(block.norm_mlp(full))
    torch.testing.assert_close(torch.stack(stepped, 1), full)


def test_transformer_heads_must_divide_the_width():
    with pytest.raises(ValueError, match="transformer_heads=3 must divide"):
        TransformerController(S.decisions(ToySpace()), lstm_size=16, transformer_heads=3)


@pytest.mark.parametrize("space, lstm, expected_ratio", [("micro", dict(lstm_size=64, lstm_layers=1), (1.5, 1.8)),
                                                         ("nb201", dict(lstm_size=32, lstm_layers=2), (0.9, 1.1))])
def test_transformer_parameter_count_is_comparable_to_the_lstm(space, lstm, expected_ratio):
    """The numbers quoted in enas/transformer_controller.py (the paper-size micro space, NB201)."""
    decs = S.decisions(S.create_space(space, **({} if space == "micro" else SPACES[space])))
    ratio = _count(TransformerController(decs, lstm_size=lstm["lstm_size"])) / _count(Controller(decs, **lstm))
    assert expected_ratio[0] < ratio < expected_ratio[1] and 0.5 < ratio < 2.0, ratio


def test_unknown_kind_and_algorithm_name_the_choices():
    decs = S.decisions(ToySpace())
    with pytest.raises(ValueError, match="controller.kind='gru'.*lstm, transformer"):
        create_controller(decs, ControllerConfig(kind="gru"))
    controller = Controller(decs, lstm_size=8)
    with pytest.raises(ValueError, match="controller.algorithm='a2c'.*reinforce, actor_critic, ppo"):
        PolicyUpdate(controller, ControllerConfig(algorithm="a2c"))


def test_the_config_names_the_registries_kinds_and_algorithms():
    """The config's allowed names (checked before a run starts) are the policies' registry, not a copy of it."""
    assert set(CONTROLLER_KINDS_CONFIG) == set(CONTROLLER_KINDS) and set(ALGORITHMS_CONFIG) == set(ALGORITHMS)


def _p_option_c(controller):
    archs = [a for a in all_architectures() if a["n0/op"] == "c"]
    return controller.log_prob(archs).exp().sum().item()


@pytest.mark.parametrize("kind, algorithm", [("transformer", "reinforce"), ("lstm", "actor_critic"),
                                             ("lstm", "ppo"), ("transformer", "actor_critic"),
                                             ("transformer", "ppo")])
def test_updates_move_the_policy_toward_a_rewarded_choice(kind, algorithm):
    torch.manual_seed(1)
    settings = ControllerConfig(kind=kind, algorithm=algorithm, lstm_size=16, tanh_constant=2.5, op_tanh_reduce=1.0,
                                lr=0.02, baseline_decay=0.9, value_lr=0.02, num_aggregate=8, entropy_weight=1e-4)
    controller = create_controller(S.decisions(ToySpace()), settings)
    update = PolicyUpdate(controller, settings)
    start = _p_option_c(controller)
    for _ in range(60):
        stats = update.step(lambda arch: 1.0 if arch["n0/op"] == "c" else 0.0)
    assert start < 0.4 and _p_option_c(controller) > 0.8, (start, _p_option_c(controller))
    assert 0.5 < stats["reward"] <= 1.0


def test_ppo_clipped_ratio_stops_the_gradient_past_the_clip():
    advantage = torch.tensor([1.0, 1.0, -1.0, -1.0, 1.0])
    old = torch.zeros(5)
    # ratios 1.5 (A>0: clipped), 0.5 (A>0: not clipped, the min keeps r A), 0.5 (A<0: clipped),
    # 1.5 (A<0: not clipped), 1.1 (inside the interval)
    log_prob = torch.log(torch.tensor([1.5, 0.5, 0.5, 1.5, 1.1])).requires_grad_()
    loss = ppo_clipped_loss(log_prob, old, advantage, clip=0.2)
    torch.testing.assert_close(loss.detach(), torch.tensor([-1.2, -0.5, 0.8, 1.5, -1.1]))
    loss.sum().backward()
    # d(-r A)/d log p = -r A where unclipped, 0 where clipped
    torch.testing.assert_close(log_prob.grad, torch.tensor([0.0, -0.5, 0.0, 1.5, -1.1]))
    with pytest.raises(ValueError, match="ppo_clip"):
        ppo_clipped_loss(log_prob, old, advantage, clip=1.5)


def test_ppo_first_epoch_takes_the_actor_critic_gradient():
    """At ratio 1 the clipped surrogate's gradient is the policy gradient with the same advantages."""
    decs = S.decisions(ToySpace())
    grads = []
    for step in (actor_critic_step, ppo_step):
        torch.manual_seed(5)
        controller = Controller(decs, lstm_size=8)
        critic = ValueCritic(8, torch.device("cpu"))
        optimizer = torch.optim.SGD(controller.parameters(), lr=0.0)  # keep the weights; read the gradient
        extra = dict(epochs=1) if step is ppo_step else {}
        torch.manual_seed(6)
        step(controller, optimizer, critic, lambda a: float(a["n0/op"] == "b"), num_archs=6, **extra)
        grads.append(torch.cat([(torch.zeros_like(p) if p.grad is None else p.grad).flatten()
                                for p in controller.parameters()]))
    torch.testing.assert_close(grads[0], grads[1])


def test_the_critic_starts_at_the_first_reward_and_round_trips():
    critic = ValueCritic(4, torch.device("cpu"), lr=0.1)
    hidden = torch.randn(3, 2, 4)
    critic.start_at(torch.tensor([0.2, 0.4, 0.6]))
    torch.testing.assert_close(critic.values(hidden), torch.full((3, 2), 0.4))
    first = critic.fit(hidden, torch.tensor([1.0, 1.0, 1.0]))
    assert critic.fit(hidden, torch.tensor([1.0, 1.0, 1.0])) < first
    restored = ValueCritic(4, torch.device("cpu"), lr=0.1)
    restored.load_state_dict(critic.state_dict())
    torch.testing.assert_close(restored.values(hidden), critic.values(hidden))
    assert restored.started and restored.optimizer.state_dict()["state"]


@pytest.fixture(scope="module")
def table():
    return NB201Table(str(shared_data("nasbench201", "nb201_accuracies.csv")))


@pytest.mark.parametrize("kind, algorithm, lr", [("transformer", "reinforce", 0.05), ("lstm", "ppo", 0.05)])
def test_finds_a_top_one_percent_cell_from_table_rewards(table, kind, algorithm, lr):
    """As tests/test_nb201.py's REINFORCE check: the 12-epoch validation accuracy as reward, 500
    queries, the best cell in the top 1% by test accuracy for most seeds, the mean reward rising."""
    decs = S.decisions(S.create_space("nb201", C=4, N=1))
    tops = []
    for seed in range(3):
        torch.manual_seed(seed)
        settings = ControllerConfig(kind=kind, algorithm=algorithm, lstm_size=32, lstm_layers=2, temperature=5.0,
                                    tanh_constant=2.5, op_tanh_reduce=1.0, lr=lr, baseline_decay=0.95,
                                    num_aggregate=10, entropy_weight=1e-4)
        controller = create_controller(decs, settings)
        update = PolicyUpdate(controller, settings)
        reward, seen = nb201_table_reward(table)

        while len(seen) < 500:
            update.step(reward)
        first, last = statistics.mean(v for v, _ in seen[:50]), statistics.mean(v for v, _ in seen[-50:])
        assert last > first + 5.0, (seed, first, last)
        tops.append(table.top_percent(max(seen)[1]))
    assert sum(t <= 1.0 for t in tops) >= 2, tops


@pytest.mark.parametrize("space", ["micro", "nb201"])
@pytest.mark.parametrize("override", ["controller.kind=transformer", "controller.algorithm=ppo",
                                      "controller.algorithm=actor_critic"])
def test_tiny_cli_search_runs_and_derives(tmp_path, space, override):
    base = TINY_SEARCH if space == "micro" else TINY_NB201
    result = search(compose_config("search", [*base, override], tmp_path))
    saved = json.loads((tmp_path / "architecture.json").read_text())
    model = S.create_space(space, **saved["space"]["kwargs"])
    assert S.validate_architecture(model, saved["architecture"]) == result["architecture"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [0, 1] and all(r["reward"] for r in rows)
    state = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=False)["controller"]
    assert ("critic" in state) == ("algorithm" in override)
    if "kind" in override:
        assert any(key.startswith("blocks.") for key in state["controller"])


def test_tiny_macro_search_with_transformer_and_ppo_keeps_the_skip_penalty(tmp_path):
    cfg = compose_config("search", ["debug=cpu_tiny", "space=macro", "space.num_layers=3", "space.out_channels=8",
                                    "controller.skip_weight=0.8", "controller.kind=transformer",
                                    "controller.algorithm=ppo"], tmp_path)
    result = search(cfg)
    saved = json.loads((tmp_path / "architecture.json").read_text())
    model = S.create_space("macro", **saved["space"]["kwargs"])
    assert S.validate_architecture(model, saved["architecture"]) == result["architecture"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 2 and all(0.0 <= float(r["skip_rate"]) <= 1.0 for r in rows)


@pytest.mark.parametrize("override, message", [("controller.kind=gru", "controller.kind='gru' must be one of lstm"),
                                               ("controller.algorithm=a3c", "algorithm=.a3c. must be one of"),
                                               ("controller.ppo_clip=1.5", "controller.ppo_clip=1.5 must be in"),
                                               ("controller.transformer_heads=3", "transformer_heads=3 must divide")])
def test_bad_controller_values_are_named(tmp_path, override, message):
    extra = ["controller.kind=transformer"] if "heads" in override else []
    with pytest.raises(ValueError, match=message):
        search(compose_config("search", [*TINY_SEARCH, *extra, override], tmp_path))


def test_transformer_with_ppo_resumes_exactly_after_a_kill(tmp_path, monkeypatch):
    options = [*TINY_SEARCH, "trainer.epochs=3", "controller.kind=transformer", "controller.algorithm=ppo",
               "controller.ppo_minibatch=1"]
    reference, resumed = straight_and_resumed(tmp_path, monkeypatch, options)

    assert resumed["epoch"] == reference["epoch"] == 2
    for key, value in reference["supernet"].items():
        assert torch.equal(value, resumed["supernet"][key]), key
    for key, value in reference["controller"]["controller"].items():
        assert torch.equal(value, resumed["controller"]["controller"][key]), key
    for key, value in reference["controller"]["critic"]["head"].items():
        assert torch.equal(value, resumed["controller"]["critic"]["head"][key]), key
    ref_opt, res_opt = reference["controller"]["critic"]["optimizer"], resumed["controller"]["critic"]["optimizer"]
    assert ref_opt["state"][0]["step"] == res_opt["state"][0]["step"]
    torch.testing.assert_close(res_opt["state"][0]["exp_avg"], ref_opt["state"][0]["exp_avg"], rtol=0, atol=0)


@pytest.mark.parametrize("space", sorted(SPACES))
@pytest.mark.parametrize("kind", ["lstm", "transformer"])
def test_greedy_decoding_gives_one_architecture_for_every_row_and_every_call(space, kind):
    """Greedy rows of one batch, and greedy calls of any batch size, decode the same architecture: the pick
    must not depend on which row of a batched kernel it came from (rows differed in their last bits on AMD)."""
    decs = S.decisions(S.create_space(space, **SPACES[space]))
    controller = create_controller(decs, ControllerConfig(kind=kind, lstm_size=16, temperature=5.0, tanh_constant=2.5))
    first = controller.sample_many(1, greedy=True)
    batch = controller.sample_many(7, greedy=True)
    assert all(arch == first.archs[0] for arch in batch.archs)
    torch.testing.assert_close(batch.log_prob, first.log_prob.expand(7))
    probs = controller.decision_probabilities()
    for d in decs:  # the greedy pick of a layer decision is a most probable option (probabilities rounded)
        if d.kind == "layer":
            assert probs[d.label][d.options.index(first.archs[0][d.label])] >= max(probs[d.label]) - 1e-5
