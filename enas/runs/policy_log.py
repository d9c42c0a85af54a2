"""The policy's per-decision probabilities, one JSON line per search epoch (``policy.jsonl``).

The run report draws them as heat maps: what the controller learned, decision by decision. Lines
are appended (a resumed run appends the epochs it redoes; readers keep the last line of each epoch),
and a line torn by a kill is skipped when read.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple, Union

__all__ = ["POLICY_FILE", "record_policy", "read_policy"]

POLICY_FILE = "policy.jsonl"


def record_policy(directory: Union[str, Path], epoch: int, strategy) -> None:
    """Append this epoch's probabilities, when the strategy has a learned policy (ENAS does)."""
    probs = strategy.policy_probabilities()
    if probs is None:
        return
    options = {d.label: list(d.options) for d in strategy.decisions}
    line = {"epoch": epoch, "decisions": {label: {"options": options.get(label, [str(i) for i in range(len(p))]),
                                                  "probs": p} for label, p in probs.items()}}
    with open(Path(directory) / POLICY_FILE, "a") as f:
        f.write(json.dumps(line) + "\n")


def read_policy(path: Union[str, Path]) -> Tuple[List[int], Dict[str, Dict]]:
    """(epochs, {label: {"options": [...], "probs": [[p per option] per epoch]}}) from ``policy.jsonl``."""
    by_epoch: Dict[int, Dict] = {}
    for text in Path(path).read_text().splitlines():
        try:
            line = json.loads(text)
            by_epoch[int(line["epoch"])] = line["decisions"]
        except (ValueError, KeyError, TypeError):
            continue  # a line torn by a kill
    epochs = sorted(by_epoch)
    table: Dict[str, Dict] = {}
    for epoch in epochs:
        for label, entry in by_epoch[epoch].items():
            row = table.setdefault(label, {"options": entry["options"], "probs": []})
            row["probs"].append(entry["probs"])
    table = {label: row for label, row in table.items() if len(row["probs"]) == len(epochs)}
    return epochs, table
