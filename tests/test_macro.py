"""The ENAS macro space: decisions, pooling, sampled-path-only compute, its controller and a CLI run."""
import csv
import json
import math
import random

import pytest
import torch

import supernet as S
from enas.policies import Controller
from enas.search import search
from enas.search import shared_weights_step

from conftest import compose_config

MACRO_OPS = ("conv_3x3", "conv_5x5", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")


def macro(**kwargs):
    return S.create_space("macro", **{"num_layers": 6, "out_channels": 4, **kwargs})


def no_skips(model):
    return {d.label: (MACRO_OPS[0] if d.kind == "layer" else []) for d in S.decisions(model)}


def test_decisions_follow_the_official_controller():
    decs = S.decisions(S.create_space("macro", num_layers=12, out_channels=8))
    assert [d.label for d in decs] == ["layer_0/op"] + [f"layer_{i}/{k}" for i in range(1, 12) for k in ("op", "skip")]
    ops = [d for d in decs if d.kind == "layer"]
    skips = [d for d in decs if d.kind == "input"]
    assert len(ops) == 12 and all(d.options == MACRO_OPS for d in ops)
    assert len(skips) == 11
    for i, d in enumerate(skips, start=1):
        assert d.node == f"layer_{i}" and d.n_chosen is None and d.named_inputs
        assert d.options == tuple(f"layer_{j}" for j in range(i))
    # The paper's count: 6^L x 2^(L(L-1)/2) = 1.6e29 networks for L = 12.
    assert S.count_architectures(decs) == 6 ** 12 * 2 ** 66
    assert f"{S.count_architectures(decs):.1e}" == "1.6e+29"


@pytest.mark.parametrize("double", [False, True])
def test_pooling_after_layers_3_and_7_of_12(double):
    model = S.create_space("macro", num_layers=12, out_channels=4, double_channels_at_pool=double)
    assert model.pool_layers == (3, 7)
    assert [len(p) for p in model.pools] == [4, 8]  # every earlier output has its own reduction
    shapes = {}
    for i, layer in enumerate(model.layers):
        layer.register_forward_hook(lambda m, inp, out, i=i: shapes.__setitem__(i, tuple(out.shape[1:])))
    S.activate(model, S.random_architecture(model, random.Random(0)))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    widths = (4, 8, 16) if double else (4, 4, 4)
    assert [shapes[i] for i in (0, 3, 4, 7, 8, 11)] == [
        (widths[0], 32, 32), (widths[0], 32, 32), (widths[1], 16, 16), (widths[1], 16, 16),
        (widths[2], 8, 8), (widths[2], 8, 8)]
    assert model.classifier.in_features == widths[2]
    assert S.create_space("macro", num_layers=24, out_channels=4).pool_layers == (7, 15)
    assert S.create_space("macro", num_layers=2, out_channels=4).pool_layers == ()


def _record_calls(model):
    calls = []
    for module in model.modules():
        if isinstance(module, S.LayerChoice):
            for name in module.names:
                module[name].register_forward_hook(lambda m, i, o, key=(module.label, name): calls.append(key))
    for k, pools in enumerate(model.pools):
        for key, reduce in pools.items():
            reduce.register_forward_hook(lambda m, i, o, key=(k, key): calls.append(key))
    return calls


def test_only_the_sampled_path_computes():
    model = macro()  # 6 layers: poolings after layers 1 and 3
    calls = _record_calls(model)
    arch = {**no_skips(model), "layer_2/op": "max_pool_3x3", "layer_5/op": "sep_conv_5x5", "layer_5/skip": [0]}
    S.activate(model, arch)
    model(torch.randn(2, 3, 32, 32))
    ops = [c for c in calls if isinstance(c[0], str)]
    assert ops == [(f"layer_{i}/op", arch[f"layer_{i}/op"]) for i in range(6)]
    # Layer 0 is read by layer 5 only: reduced at both poolings; layers 1 and 3 feed the next layer.
    assert sorted(c for c in calls if isinstance(c[0], int)) == [(0, "layer_0"), (0, "layer_1"),
                                                                  (1, "layer_0"), (1, "layer_3")]
    for seed in range(5):
        calls.clear()
        arch = S.activate(model, S.random_architecture(model, random.Random(seed)))
        model(torch.randn(2, 3, 32, 32))
        assert [c for c in calls if isinstance(c[0], str)] == [(f"layer_{i}/op", arch[f"layer_{i}/op"]) for i in range(6)]


def test_frozen_child_keeps_only_the_reductions_it_reads():
    model = macro()
    arch = {**no_skips(model), "layer_5/skip": [0], "layer_3/skip": [0, 2]}
    child = S.freeze(model, arch)
    assert [sorted(p) for p in child.pools] == [["layer_0", "layer_1"], ["layer_0", "layer_3"]]
    assert not any(isinstance(m, (S.LayerChoice, S.InputChoice)) for m in child.modules())
    everything = {**no_skips(model), **{f"layer_{i}/skip": list(range(i)) for i in range(1, 6)}}
    for arch in (no_skips(model), everything, arch):
        S.activate(model, arch)
        child = S.freeze(model, arch)
        model.eval(), child.eval()
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(child(x), model(x), rtol=1e-6, atol=1e-6)
        assert S.count_parameters(child) < S.count_parameters(model)
    assert [len(p) for p in S.freeze(model, no_skips(model)).pools] == [1, 1]


class _LossTask:
    def loss(self, model, batch):
        return model(batch).pow(2).mean(), torch.zeros(())


def test_shared_weights_step_trains_only_the_sampled_path():
    model = macro()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    arch = {**no_skips(model), "layer_1/op": "sep_conv_3x3", "layer_4/op": "avg_pool_3x3", "layer_5/skip": [0, 4]}
    before = {k: v.clone() for k, v in model.named_parameters()}
    shared_weights_step(model, _LossTask(), torch.randn(4, 3, 32, 32), opt, 5.0, arch)
    changed = {k for k, v in model.named_parameters() if not torch.equal(v, before[k])}
    for i, layer in enumerate(model.layers):
        for name in MACRO_OPS:
            prefix = f"layers.{i}.op.{name}."
            assert any(k.startswith(prefix) for k in changed) == (name == arch[f"layer_{i}/op"]), prefix
    used = {"pools.0.layer_0", "pools.0.layer_1", "pools.1.layer_0", "pools.1.layer_3"}
    reductions = {k.rsplit(".", 2)[0] for k in before if k.startswith("pools.")}
    assert {r for r in reductions if any(k.startswith(r + ".") for k in changed)} == used
    assert "stem.0.weight" in changed and "classifier.weight" in changed


def _kl(p, t=0.4):
    return p * math.log(p / t) + (1 - p) * math.log((1 - p) / (1 - t))


@pytest.mark.parametrize("num_layers", [2, 3])
def test_controller_skip_penalty_is_the_bernoulli_kl_to_the_target(num_layers):
    decs = S.decisions(S.create_space("macro", num_layers=num_layers, out_channels=4))
    controller = Controller(decs, lstm_size=16, tanh_constant=1.5, op_tanh_reduce=1.0, skip_target=0.4)
    with torch.no_grad():
        controller.attn_v.weight.zero_()  # every skip logit is 0: p(skip) = 0.5
    samples = controller.sample_many(8)
    slots = num_layers * (num_layers - 1) // 2  # layer i has i candidates
    # official: the mean over the (num_layers - 1) skip decisions of each one's summed KL
    expected = slots / (num_layers - 1) * (0.5 * math.log(0.5 / 0.4) + 0.5 * math.log(0.5 / 0.6))
    assert expected == pytest.approx(slots / (num_layers - 1) * _kl(0.5))
    torch.testing.assert_close(samples.skip_penalty, torch.full((8,), expected), rtol=1e-5, atol=1e-6)
    for arch, rate in zip(samples.archs, samples.skip_rate.tolist()):
        assert rate == pytest.approx(sum(len(arch[f"layer_{i}/skip"]) for i in range(1, num_layers)) / slots)
    # With p = 0.5 every pattern of the last skip decision is equally likely (earlier skips also
    # steer the LSTM's next input, so only the last one leaves the rest of the sequence unchanged).
    arch, last = samples.archs[0], num_layers - 1
    flipped = {**arch, f"layer_{last}/skip": [j for j in range(last) if j not in arch[f"layer_{last}/skip"]]}
    lp = controller.log_prob([arch, flipped])
    assert lp[0].item() == pytest.approx(lp[1].item(), abs=1e-5)


def test_controller_samples_valid_macro_architectures():
    model = S.create_space("macro", num_layers=12, out_channels=4)
    controller = Controller(S.decisions(model), tanh_constant=1.5, op_tanh_reduce=1.0)
    samples = controller.sample_many(4)
    assert samples.log_prob.shape == (4,) and samples.skip_penalty.min() > 0
    model.eval()
    for arch in samples.archs:
        assert S.validate_architecture(model, arch) == arch
        S.activate(model, arch)
        with torch.no_grad():
            assert torch.isfinite(model(torch.randn(2, 3, 16, 16))).all()
    torch.testing.assert_close(controller.log_prob(samples.archs), samples.log_prob)


def test_experiment_configs_follow_the_official_scripts():
    cfg = compose_config("search", ["experiment=enas_macro_paper"])
    assert (cfg.space.name, cfg.space.num_layers, cfg.space.out_channels) == ("macro", 12, 36)
    assert (cfg.trainer.epochs, cfg.data.batch_size, cfg.trainer.lr, cfg.trainer.lr_min) == (310, 128, 0.05, 0.0005)
    c = cfg.controller
    assert (c.lr, c.tanh_constant, c.num_aggregate, c.train_steps, c.entropy_weight) == (0.001, 1.5, 20, 50, 1e-4)
    assert (c.skip_target, c.skip_weight) == (0.4, 0.8)
    final = compose_config("train", ["experiment=enas_macro_final", "architecture=a.json"])
    assert (final.space.num_layers, final.space.out_channels, final.space.double_channels_at_pool) == (24, 96, True)
    assert (final.trainer.epochs, final.data.batch_size, final.space.dropout) == (310, 100, 0.5)
    S.create_space(final.space.name, **{k: v for k, v in final.space.items() if k != "name"})


def test_search_runs_from_the_cli_config(tmp_path):
    cfg = compose_config("search", ["debug=cpu_tiny", "space=macro", "space.num_layers=3", "space.out_channels=8",
                                    "controller.skip_weight=0.8"], tmp_path)
    result = search(cfg)
    saved = json.loads((tmp_path / "architecture.json").read_text())
    assert saved["space"] == {"name": "macro", "kwargs": {"num_layers": 3, "out_channels": 8,
                                                          "double_channels_at_pool": False, "dropout": 0.1}}
    arch = saved["architecture"]
    assert isinstance(arch["layer_1/skip"], list) and isinstance(arch["layer_2/skip"], list)
    model = S.create_space("macro", **saved["space"]["kwargs"])
    assert S.validate_architecture(model, arch) == result["architecture"]
    rows = list(csv.DictReader(open(tmp_path / "metrics.csv")))
    assert len(rows) == 2 and all(0.0 <= float(r["skip_rate"]) <= 1.0 for r in rows)
    assert "layer_2/skip = [" in (tmp_path / "architecture.txt").read_text()
