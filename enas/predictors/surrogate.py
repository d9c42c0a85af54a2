"""A learned performance predictor: an ensemble of small MLPs on the architecture's features.

The origin's "train a surrogate from the architecture's features": what the search measures anyway
(the shared-weight score of the architectures it evaluates) is the target; the features are the
architecture's encoding (one-hot per layer decision, multi-hot per input decision, built from the
decision list alone, so any space works) and, optionally, zero-cost scores. An ensemble of five
two-layer MLPs, as BANANAS (White et al., AAAI 2021, arXiv:1910.11858) uses, gives a mean and a spread
for acquisition functions. Plain torch, a few hundred full-batch Adam steps: fitting on a thousand
points takes well under a second on a CPU, so it is refitted whenever data arrive.

Every fit first holds out a fifth of the points, fits the rest and reports Kendall tau and RMSE on the
held-out part (`Surrogate.fit` returns them; the search writes them to ``metrics.csv``), then refits on
all points for prediction. Fits use a private, seeded generator: the same data give the same model.
"""
from __future__ import annotations

import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from torch import nn

from supernet import Decision

from .ranking import kendall_tau

__all__ = ["encode", "encoding_size", "Surrogate"]

# Heavy-tailed proxies enter the features as log(1 + |x|) * sign(x).
LOG_SCALED = {"params", "flops", "synflow", "snip", "grad_norm"}


def encoding_size(decisions: Sequence[Decision]) -> int:
    return sum(d.size for d in decisions)


def encode(decisions: Sequence[Decision], arch: Mapping) -> List[float]:
    """One-hot of each layer decision's option, multi-hot of each input decision's chosen inputs."""
    out: List[float] = []
    for d in decisions:
        value = arch[d.label]
        if d.kind == "layer":
            out += [1.0 if option == value else 0.0 for option in d.options]
        else:
            chosen = set(value)
            out += [1.0 if i in chosen else 0.0 for i in range(d.size)]
    return out


def _scaled(name: str, value: float) -> float:
    if value is None or not math.isfinite(value):
        return 0.0
    return math.copysign(math.log1p(abs(value)), value) if name in LOG_SCALED else value


class Surrogate:
    """``add`` measured points, ``fit``, then ``predict`` the target of any architecture.

    ``extra`` names the zero-cost scores used as features beside the encoding; every point and every
    query must then carry them (a mapping name -> value).
    """

    def __init__(self, decisions: Sequence[Decision], extra: Sequence[str] = (), ensemble: int = 5,
                 hidden: int = 64, steps: int = 150, lr: float = 0.01, weight_decay: float = 1e-4,
                 holdout: float = 0.2, window: Optional[int] = None, seed: int = 0):
        if ensemble < 1 or hidden < 1 or steps < 1:
            raise ValueError("predictor: ensemble, hidden and steps must be >= 1")
        if not 0.0 <= holdout < 1.0:
            raise ValueError(f"predictor.holdout must be in [0, 1), got {holdout}")
        self.decisions, self.extra = tuple(decisions), tuple(extra)
        self.ensemble, self.hidden, self.steps, self.lr, self.weight_decay = ensemble, hidden, steps, lr, weight_decay
        self.holdout, self.window, self.seed = holdout, window, seed
        self.points: List[Tuple[List[float], float]] = []  # (features, target)
        self.prior: List[Tuple[List[float], float]] = []   # earlier searches' points, targets ranks in [0, 1]
        self.net: Optional[Ensemble] = None
        self._stats: Optional[Tuple[torch.Tensor, torch.Tensor, float, float]] = None
        self.fits = 0

    def features(self, arch: Mapping, extra: Optional[Mapping[str, float]] = None) -> List[float]:
        values = encode(self.decisions, arch)
        if self.extra:
            if extra is None or any(n not in extra for n in self.extra):
                raise KeyError(f"the predictor uses zero-cost features {list(self.extra)}; pass them for every "
                               "architecture")
            values += [_scaled(n, extra[n]) for n in self.extra]
        return values

    def add(self, arch: Mapping, target: float, extra: Optional[Mapping[str, float]] = None) -> None:
        if math.isfinite(target):
            self.points.append((self.features(arch, extra), float(target)))

    def __len__(self) -> int:
        return len(self.points)

    def set_prior(self, points: Sequence[Tuple[Mapping, float]],
                  extras: Optional[Sequence[Mapping[str, float]]] = None) -> None:
        """Points of earlier searches (architecture, rank in [0, 1]: `enas.runs.archive.rank_targets`), fitted
        beside this search's own from now on. A rank r is fitted as the r-quantile of this search's own
        targets: what transfers is which architectures were better, not another dataset's accuracy level."""
        extras = extras if extras is not None else [None] * len(points)
        self.prior = [(self.features(a, e), float(t)) for (a, t), e in zip(points, extras)]

    @property
    def fitted(self) -> bool:
        return self.net is not None

    # ---------------------------------------------------------------------------------------- #
    def _data(self) -> Tuple[torch.Tensor, torch.Tensor]:
        points = self.points[-self.window:] if self.window else self.points
        x = torch.tensor([p[0] for p in points], dtype=torch.float32).reshape(len(points), self._width())
        y = torch.tensor([p[1] for p in points], dtype=torch.float32)
        return x, y

    def _width(self) -> int:
        return encoding_size(self.decisions) + len(self.extra)

    def _with_prior(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The points with the prior's: each prior rank becomes that quantile of this search's targets (its
        scale), or stays a rank while this search has fewer than two points."""
        if not self.prior:
            return x, y
        px = torch.tensor([p[0] for p in self.prior], dtype=torch.float32)
        py = torch.tensor([p[1] for p in self.prior], dtype=torch.float32)
        if len(y) >= 2:
            py = torch.quantile(y, py.clamp(0, 1))
        return torch.cat([px, x]), torch.cat([py, y])

    def _train(self, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        mean, std = x.mean(0), x.std(0).clamp_min(1e-6) if len(x) > 1 else torch.ones(x.shape[1])
        y_mean, y_std = float(y.mean()), float(y.std()) if len(y) > 1 and float(y.std()) > 0 else 1.0
        xn, yn = (x - mean) / std, (y - y_mean) / y_std
        net = Ensemble(self.ensemble, x.shape[1], self.hidden, gen)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.steps):
            opt.zero_grad(set_to_none=True)
            # Members share no parameter and Adam is elementwise: this trains each on its own loss.
            loss = ((net(xn) - yn) ** 2).mean(1).sum()
            loss.backward()
            opt.step()
        return net.eval(), (mean, std, y_mean, y_std)

    @staticmethod
    def _predict(net, stats, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        mean, std, y_mean, y_std = stats
        with torch.no_grad():
            preds = net((x - mean) / std) * y_std + y_mean
        return preds.mean(0), preds.std(0) if preds.shape[0] > 1 else torch.zeros(x.shape[0])

    def fit(self) -> Dict[str, float]:
        """Refit on the points so far (and the prior); returns the held-out Kendall tau and RMSE on this
        search's own points (NaN when too few)."""
        x, y = self._data()
        if len(y) + len(self.prior) < 2:
            raise ValueError(f"the predictor needs at least 2 points to fit, has {len(y) + len(self.prior)}")
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.fits)
        self.fits += 1
        report = {"predictor_points": float(len(y)), "predictor_tau": float("nan"), "predictor_rmse": float("nan")}
        n_out = int(len(y) * self.holdout)
        if n_out >= 5:
            order = torch.randperm(len(y), generator=gen)
            held, kept = order[:n_out], order[n_out:]
            net, stats = self._train(*self._with_prior(x[kept], y[kept]), gen)
            pred, _ = self._predict(net, stats, x[held])
            report["predictor_tau"] = kendall_tau(pred.tolist(), y[held].tolist())
            report["predictor_rmse"] = float(((pred - y[held]) ** 2).mean().sqrt())
        self.net, self._stats = self._train(*self._with_prior(x, y), gen)
        return report

    def predict(self, archs: Sequence[Mapping], extras: Optional[Sequence[Mapping[str, float]]] = None
                ) -> Tuple[List[float], List[float]]:
        """(mean, spread) of the ensemble's prediction for each architecture."""
        if not self.fitted:
            raise RuntimeError("the predictor has not been fitted yet")
        if not archs:
            return [], []
        extras = extras if extras is not None else [None] * len(archs)
        x = torch.tensor([self.features(a, e) for a, e in zip(archs, extras)], dtype=torch.float32)
        mean, spread = self._predict(self.net, self._stats, x)
        return mean.tolist(), spread.tolist()

    # ---------------------------------------------------------------------------------------- #
    def state_dict(self) -> dict:
        return {"points": list(self.points), "prior": list(self.prior), "fits": self.fits,
                "net": self.net.state_dict() if self.net is not None else None, "stats": self._stats}

    def load_state_dict(self, state: dict) -> None:
        self.points, self.fits, self._stats = [tuple(p) for p in state["points"]], state["fits"], state["stats"]
        self.prior = [tuple(p) for p in state.get("prior", [])]  # checkpoints from before warm starts have none
        self.net = None
        if state["net"] is not None:
            w1 = state["net"]["w1"]
            self.net = Ensemble(w1.shape[0], w1.shape[1], w1.shape[2], torch.Generator())
            self.net.load_state_dict(state["net"])
            self.net.eval()


class Ensemble(nn.Module):
    """``members`` independent MLPs (in -> hidden -> hidden -> 1, ReLU), run as one batched network:
    one kernel per layer for all members instead of one per member (fitting is launch-bound on a CPU)."""

    def __init__(self, members: int, d_in: int, hidden: int, gen: torch.Generator):
        super().__init__()

        def uniform(*shape, fan_in):  # nn.Linear's default range, from the private generator
            bound = 1.0 / math.sqrt(fan_in)
            return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound, generator=gen))
        self.w1, self.b1 = uniform(members, d_in, hidden, fan_in=d_in), uniform(members, 1, hidden, fan_in=d_in)
        self.w2, self.b2 = uniform(members, hidden, hidden, fan_in=hidden), uniform(members, 1, hidden, fan_in=hidden)
        self.w3, self.b3 = uniform(members, hidden, 1, fan_in=hidden), uniform(members, 1, 1, fan_in=hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, d_in) -> (members, n)."""
        h = x.unsqueeze(0).expand(self.w1.shape[0], -1, -1)
        h = torch.relu(torch.baddbmm(self.b1, h, self.w1))
        h = torch.relu(torch.baddbmm(self.b2, h, self.w2))
        return torch.baddbmm(self.b3, h, self.w3).squeeze(-1)
