"""Throughput of weight-sharing search: shared-weights step, controller step, evaluation.

Measures, on synthetic CIFAR-shaped data, images/s and achieved GFLOP/s (FLOPs counted with
``torch.utils.flop_counter``) of:

* ``shared``: one shared-weights SGD step with a fresh random architecture every step;
* ``child`` / ``supernet``: the same fixed architecture as a standalone child (`supernet.freeze`)
  and as the supernet with it active, so the weight-sharing overhead is a ratio measured side by side
  (target: supernet within 10% of the child);
* ``reference`` (NB201 only): a straightforward ENAS supernet written the obvious way
  (``nn.AvgPool2d(count_include_pad=False)``, ``none`` as multiply-by-zero, NCHW), the baseline of
  a >= 1.5x speed-up target;
* ``eval``: a no-grad forward in eval mode (a reward or derive evaluation);
* ``controller``: one REINFORCE update of the controller (sampling ``num_aggregate`` architectures),
  without the reward evaluations, which are ``eval``.

and, in the same run, the machine's fp32 matmul GFLOP/s. Variants that are timed against each other
run alternately, round after round, and are reported as ratios of medians measured in one run.
Batch norm uses batch statistics throughout (as in search). fp32 NCHW is the reference numerics;
channels_last (``--channels-last``, same fp32 math) and bf16 autocast (CUDA) are reported beside it.

    python -m benchmarks.throughput                       # nb201 + micro, batch 64 and 256, CPU
    python -m benchmarks.throughput --spaces nb201 --batch 64 --rounds 5 --compare-malloc
    python -m benchmarks.throughput --device cuda --amp bf16 --channels-last

Prints the machine's matmul GFLOP/s, one row per space, batch and variant (ms/step, img/s, GFLOP/s, % of
matmul) and the ratios; ``--json`` writes them. Synthetic data: nothing to download. Architectures are
drawn with a fixed seed (0). Hardware, runtime: a 2-core x86 CPU takes about 10 minutes for the default; a
GPU a minute.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import supernet as S
from enas.policies import Controller, EMABaseline, controller_step
from enas.runs import keep_freed_memory_mapped

ROOT = Path(__file__).resolve().parents[1]  # `python -m benchmarks.throughput` runs from here
SPACE_KWARGS = {"nb201": dict(C=16, N=5), "micro": dict(num_layers=6, out_channels=20, aux_head=False)}


# ---------------------------------------------------------------------------------------------- #
# The straightforward NB201 supernet: the baseline the ``reference/shared`` speed-up is measured against.
class _RefReLUConvBN(nn.Sequential):
    def __init__(self, C, k):
        super().__init__(nn.ReLU(), nn.Conv2d(C, C, k, 1, k // 2, bias=False),
                         nn.BatchNorm2d(C, affine=False, track_running_stats=False))


class _RefZero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def _ref_ops(C):
    return nn.ModuleDict({"none": _RefZero(), "skip_connect": nn.Identity(), "nor_conv_1x1": _RefReLUConvBN(C, 1),
                          "nor_conv_3x3": _RefReLUConvBN(C, 3),
                          "avg_pool_3x3": nn.AvgPool2d(3, 1, 1, count_include_pad=False)})


class _RefCell(nn.Module):
    def __init__(self, C):
        super().__init__()
        self.edges = nn.ModuleDict({f"{i}_{j}": _ref_ops(C) for i in range(1, 4) for j in range(i)})
        self.arch = None

    def forward(self, x):
        nodes = [x]
        for i in range(1, 4):
            nodes.append(sum(self.edges[f"{i}_{j}"][self.arch[f"node{i}/edge{j}"]](nodes[j]) for j in range(i)))
        return nodes[-1]


class ReferenceNB201(nn.Module):
    def __init__(self, C=16, N=5, num_classes=10):
        super().__init__()
        from supernet.spaces.nb201 import ResidualReduction

        self.stem = nn.Sequential(nn.Conv2d(3, C, 3, padding=1, bias=False), nn.BatchNorm2d(C, track_running_stats=False))
        layers, C_prev = [], C
        for stage, C_stage in enumerate((C, 2 * C, 4 * C)):
            if stage:
                layers.append(ResidualReduction(C_prev, C_stage, True, False))
            layers += [_RefCell(C_stage) for _ in range(N)]
            C_prev = C_stage
        self.layers = nn.Sequential(*layers)
        self.last_act = nn.Sequential(nn.BatchNorm2d(C_prev, track_running_stats=False), nn.ReLU())
        self.classifier = nn.Linear(C_prev, num_classes)

    def set_arch(self, arch):
        for m in self.modules():
            if isinstance(m, _RefCell):
                m.arch = arch

    def forward(self, x):
        return self.classifier(self.last_act(self.layers(self.stem(x))).mean((2, 3)))


# ---------------------------------------------------------------------------------------------- #
def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _logits(out):
    return out[0] if isinstance(out, tuple) else out


class Runner:
    """One timed variant: a model, an optimizer and a way to set the architecture."""

    def __init__(self, model, set_arch, device, channels_last, amp):
        self.model = model.to(device)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.set_arch, self.device, self.channels_last, self.amp = set_arch, device, channels_last, amp
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def batch(self, n):
        x = torch.randn(n, 3, 32, 32, device=self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, torch.randint(0, 10, (n,), device=self.device)

    def autocast(self):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp == "bf16")

    def train_step(self, arch, batch):
        self.model.train()
        if self.set_arch:
            self.set_arch(self.model, arch)
        with self.autocast():
            loss = F.cross_entropy(_logits(self.model(batch[0])), batch[1])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 5.0)
        self.opt.step()

    @torch.no_grad()
    def eval_step(self, arch, batch):
        self.model.eval()
        if self.set_arch:
            self.set_arch(self.model, arch)
        with self.autocast():
            self.model(batch[0])


def timed(fn, device) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


def flops_of(fn) -> float:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_gflops(device, n=2048, reps=5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = [timed(lambda: a @ b, device) for _ in range(reps)]
    return 2 * n ** 3 / statistics.median(times) / 1e9


def bench_space(name, batch, device, args, rng):
    kwargs = SPACE_KWARGS[name]
    model = S.create_space(name, **kwargs)
    decs = S.decisions(model)
    fixed = S.random_architecture(decs, rng)
    if name == "nb201":  # a representative cell: mixed convs, a skip, no dead edges
        fixed = S.from_nb201_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    child = S.freeze(model, fixed)
    variants = {
        "shared": Runner(model, S.activate, device, args.channels_last, args.amp),
        "supernet": Runner(S.create_space(name, **kwargs), S.activate, device, args.channels_last, args.amp),
        "child": Runner(child, None, device, args.channels_last, args.amp),
    }
    if name == "nb201":
        variants["reference"] = Runner(ReferenceNB201(**kwargs), lambda m, a: m.set_arch(a), device, False, "none")
    b = variants["shared"].batch(batch)
    fresh = [S.random_architecture(decs, rng) for _ in range(args.rounds * args.steps + 2)]
    times = {k: [] for k in [*variants, "eval"]}
    flops = {k: [] for k in times}
    # warm-up, and FLOPs of one step of each variant (fresh architectures: mean over the ones timed)
    for key, runner in variants.items():
        arch = fresh[0] if key in ("shared", "reference") else fixed
        runner.train_step(arch, b)
        if key != "reference":
            flops[key].append(flops_of(lambda: runner.train_step(arch, b)))
    variants["shared"].eval_step(fresh[0], b)
    i = 1
    for _ in range(args.rounds):  # alternate the variants round after round
        for key, runner in variants.items():
            archs = fresh[i:i + args.steps] if key in ("shared", "reference") else [fixed] * args.steps
            times[key].append(timed(lambda: [runner.train_step(a, b) for a in archs], device) / args.steps)
        archs = fresh[i:i + args.steps]
        times["eval"].append(timed(lambda: [variants["shared"].eval_step(a, b) for a in archs], device) / args.steps)
        i += args.steps
    for a in fresh[1:4]:  # FLOPs of fresh architectures vary: average a few
        flops["shared"].append(flops_of(lambda: variants["shared"].train_step(a, b)))
        flops["eval"].append(flops_of(lambda: variants["shared"].eval_step(a, b)))
    flops["reference"] = flops["shared"]
    rows = []
    for key in times:
        med = statistics.median(times[key])
        gflop = statistics.mean(flops[key]) / 1e9 if flops[key] else float("nan")
        rows.append({"space": name, "batch": batch, "what": key, "ms": med * 1e3, "img_s": batch / med,
                     "gflop_s": gflop / med})
    ctrl = Controller(decs).to(device)
    opt = torch.optim.Adam(ctrl.parameters(), lr=3.5e-3, betas=(0.0, 0.999), eps=1e-3)
    base = EMABaseline()
    controller_step(ctrl, opt, base, lambda a: 0.5, 10)
    ct = [timed(lambda: controller_step(ctrl, opt, base, lambda a: 0.5, 10), device) for _ in range(args.rounds)]
    rows.append({"space": name, "batch": 10, "what": "controller", "ms": statistics.median(ct) * 1e3,
                 "img_s": float("nan"), "gflop_s": float("nan"), "note": "archs/s=%.0f" % (10 / statistics.median(ct))})
    ratios = {"supernet/child time": statistics.median(times["supernet"]) / statistics.median(times["child"])}
    if "reference" in times:
        ratios["reference/shared time (speedup)"] = statistics.median(times["reference"]) / statistics.median(times["shared"])
    return rows, ratios


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--spaces", nargs="+", default=["nb201", "micro"], choices=sorted(SPACE_KWARGS))
    p.add_argument("--batch", nargs="+", type=int, default=[64, 256])
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are over rounds")
    p.add_argument("--steps", type=int, default=3, help="steps per variant per round")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--amp", default="none", choices=["none", "bf16"])
    p.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                   help="glibc mmap/trim thresholds (enas.runs.keep_freed_memory_mapped); the CLI uses 'tuned'")
    p.add_argument("--compare-malloc", action="store_true", help="run twice in subprocesses, default vs tuned")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args()
    if args.compare_malloc:
        base = [a for a in sys.argv[1:] if a != "--compare-malloc"]
        for mode in ("default", "tuned", "default", "tuned"):
            print(f"\n### malloc={mode}")
            subprocess.run([sys.executable, "-m", "benchmarks.throughput", *base, "--malloc", mode], cwd=ROOT,
                           check=True)
        return
    if args.malloc == "tuned":
        keep_freed_memory_mapped()
    device = torch.device(args.device)
    torch.manual_seed(0)
    import random

    rng = random.Random(0)
    mm = matmul_gflops(device)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, threads "
          f"{torch.get_num_threads()}, device {device}, channels_last={args.channels_last}, amp={args.amp}, "
          f"malloc={args.malloc}; fp32 matmul {mm:.1f} GFLOP/s")
    all_rows, all_ratios = [], {}
    for name in args.spaces:
        for batch in args.batch:
            rows, ratios = bench_space(name, batch, device, args, rng)
            all_rows += rows
            all_ratios.update({f"{name} b{batch} {k}": v for k, v in ratios.items()})
    print(f"\n{'space':7} {'batch':>5} {'what':11} {'ms/step':>9} {'img/s':>8} {'GFLOP/s':>8} {'% matmul':>8}")
    for r in all_rows:
        print(f"{r['space']:7} {r['batch']:5d} {r['what']:11} {r['ms']:9.1f} {r['img_s']:8.1f} {r['gflop_s']:8.1f} "
              f"{100 * r['gflop_s'] / mm:8.1f} {r.get('note', '')}")
    print("\nratios (medians over alternating rounds of one run):")
    for k, v in all_ratios.items():
        print(f"  {k:45} {v:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"matmul_gflop_s": mm, "rows": all_rows, "ratios": all_ratios}, indent=2))


if __name__ == "__main__":
    main()
