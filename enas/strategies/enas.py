"""``strategy=enas``: the ENAS controller trained with REINFORCE (Pham et al. 2018, arXiv:1802.03268).

The controller's samples train the shared weights (``trainer.shared_sampling=policy``, "rich get
richer": its favourites train more, score better and get sampled more) or uniform samples do
(``uniform``, decoupled); each learning phase takes ``controller.train_steps`` updates of
``controller.num_aggregate`` rewarded samples. ``controller.kind`` and ``controller.algorithm`` choose the
policy and its update rule (`enas.policies`). With a fitted predictor and ``controller.screen_keep``, each
update evaluates only the samples the predictor rates best and uses its estimate for the rest
(screening: the reward evaluations are the controller phase's cost). Restricted to a preferred set
(`Strategy.prefer`), the policy samples among its members only, each with its probability under the policy
renormalised over the set, and learns from those samples as from any other.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

import torch

from supernet import Decision

from ..config.schema import ControllerConfig
from ..policies import PolicyUpdate, create_controller
from .base import Reward, Strategy, rewards_of

__all__ = ["ENASStrategy"]


class ENASStrategy(Strategy):
    """The controller and its update rule, from a controller config node (`enas.config.ControllerConfig`)."""

    name = "enas"

    def __init__(self, decisions: Sequence[Decision], device: torch.device, seed: int = 0, settings=None,
                 constraint=None, predictor=None, trainer=None):
        super().__init__(decisions, seed, constraint, predictor, trainer)
        self.settings = settings if settings is not None else ControllerConfig()
        self.controller = create_controller(decisions, self.settings).to(device)
        self.update = PolicyUpdate(self.controller, self.settings)
        self._evaluated = 0

    @classmethod
    def from_config(cls, cfg, decisions, device, constraint=None, predictor=None) -> "ENASStrategy":
        return cls(decisions, device, cfg.seed, cfg.controller, constraint, predictor, cfg.trainer)

    @torch.no_grad()
    def propose(self, n: int) -> List[Dict]:
        # The policy is fixed during the shared-weights phase, so one batched pass samples them all.
        self.controller.eval()
        if self.preferred is not None:
            return self._preferred_draw(n)
        def draw(k: int) -> List[Dict]:
            return [a for s in range(0, k, 256) for a in self.controller.sample_many(min(256, k - s)).archs]
        return self._within_budget(draw, n)

    @torch.no_grad()
    def _preferred_log_prob(self) -> torch.Tensor:
        members = self.preferred
        return torch.cat([self.controller.log_prob(members[i:i + 256]) for i in range(0, len(members), 256)])

    def _preferred_draw(self, n: int) -> List[Dict]:
        """``n`` draws from the policy restricted to the preferred set: p(a) / sum of p over the set."""
        picks = torch.multinomial(torch.softmax(self._preferred_log_prob().float(), 0), n, replacement=True)
        return [dict(self.preferred[i]) for i in picks.tolist()]

    def _proposals(self) -> Optional[Callable[[int], List[Dict]]]:
        """How the learning phase chooses its samples when not freely from the policy: within the preferred set,
        or the policy's samples that fit the budget."""
        if self.preferred is not None:
            return self._preferred_draw
        if self.constraint is not None and self.constraint.active:
            return lambda n: self.constraint.sample(lambda k: self.controller.sample_many(k).archs, n)
        return None

    def shared_archs(self, n: int, epoch: int) -> List[Dict]:
        uniform = epoch < self.trainer.warmup_epochs or self.trainer.shared_sampling == "uniform"
        return self.uniform(n) if uniform else self.propose(n)

    def learns(self, epoch: int) -> bool:
        return epoch >= self.trainer.warmup_epochs

    def _screened(self, archs: List[Dict], reward: Callable[[Dict], float]) -> List[float]:
        """Rewards of one update's samples: evaluate the ``screen_keep`` the predictor rates best,
        use its estimate for the others (all are evaluated until the predictor is ready)."""
        keep_best = self.settings.screen_keep
        predictor = self.predictor
        if predictor is not None and not predictor.ready and predictor.known >= predictor.min_points:
            self.predictor.refit()  # enough points: screen from now on, not from the next epoch
        # its estimates stand in for rewards: only once it knows this search's own scale (a warm start's
        # prior alone predicts ranks)
        if self.predictor is None or not self.predictor.ready or len(self.predictor) < self.predictor.min_points:
            self._evaluated += len(archs)
            return [reward(a) for a in archs]
        predicted, _ = self.predictor.predict(archs)
        # the predictor estimates the raw reward; a reward with a factor of its own (the soft latency
        # constraint, enas.search.latency) applies it to the estimates as it does to what it evaluates
        adjust = getattr(reward, "adjust", None)
        if adjust is not None:
            predicted = [adjust(a, p) for a, p in zip(archs, predicted)]
        keep = set(sorted(range(len(archs)), key=lambda i: -predicted[i])[:keep_best])
        self._evaluated += len(keep)
        return [reward(a) if i in keep else predicted[i] for i, a in enumerate(archs)]

    def learn(self, reward: Reward, steps: int, progress) -> Dict[str, float]:
        totals: Dict[str, float] = {}
        self._evaluated = 0
        screen = self._screened if self.settings.screen_keep else None
        if screen is None and hasattr(reward, "many"):  # an update's samples evaluated as one batch
            screen = lambda archs, one: rewards_of(reward, archs)  # noqa: E731
        for _ in range(steps):
            stats = self.update.step(reward, self._proposals(), screen)
            if not self.settings.screen_keep:  # every sample of the update was evaluated
                self._evaluated += self.settings.num_aggregate
            for k, v in stats.items():
                totals[k] = totals.get(k, 0.0) + v / steps
            progress.tick(stats)
        totals["rewards_evaluated"] = float(self._evaluated)
        return totals

    def rewards_change(self) -> None:
        self.update.baseline.value = None  # the moving average restarts at the next reward

    def greedy_candidates(self) -> List[Dict]:
        if self.preferred is not None:  # the set's most likely member under the policy
            return [dict(self.preferred[int(self._preferred_log_prob().argmax())])]
        return self.controller.sample_many(1, greedy=True).archs

    def policy_probabilities(self) -> Dict[str, List[float]]:
        return self.controller.decision_probabilities()

    def state_dict(self) -> dict:
        return {"rng": self.rng.getstate(), "controller": self.controller.state_dict(), **self.update.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.setstate(state["rng"])
        self.controller.load_state_dict(state["controller"])
        self.update.load_state_dict(state)
