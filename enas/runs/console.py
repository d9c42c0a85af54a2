"""What a run shows while it works: progress bars, and the closing summary (printed and logged)."""
from __future__ import annotations

import logging
from typing import Iterable, Mapping, Optional

__all__ = ["announce", "progress", "Progress"]

log = logging.getLogger("enas")


def announce(text: str) -> None:
    """Print a closing summary, and write it to the run's log file (Hydra's ``search.log`` /
    ``train.log``) too; the console already shows it once, so it skips the console handlers."""
    print(text)
    record = log.makeRecord(log.name, logging.INFO, __file__, 0, text.strip("\n"), None, None)
    for handler in logging.getLogger().handlers + log.handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def progress(iterable: Iterable, enabled: bool, **kwargs):
    """A tqdm bar on a terminal or in a log; plain iteration when disabled."""
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, leave=False, dynamic_ncols=True, mininterval=1.0, **kwargs)


class Progress:
    """A bar advanced by hand (``tick``) by code that runs steps of its own, such as a strategy's learning
    phase; showing the step's reward and the policy's baseline and entropy, or the best reward so far for a
    strategy without a policy. Nothing is drawn when disabled."""

    def __init__(self, total: int, enabled: bool, desc: str = ""):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, leave=False, dynamic_ncols=True, mininterval=1.0, desc=desc)

    def tick(self, stats: Optional[Mapping[str, float]] = None) -> None:
        if self.bar is None:
            return
        self.bar.update(1)
        if stats:
            self.bar.set_postfix({k: f"{stats[k]:.3g}" for k in ("reward", "baseline", "entropy", "best")
                                 if k in stats})

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
