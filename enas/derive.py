"""Derive: pick the final architecture with the shared weights, and write it out.

ENAS (Pham et al. 2018, section 2.2, "Deriving Architectures"): sample several architectures from
the trained policy, score each on a validation minibatch with the shared weights, keep the best.
We score every candidate on the *same* validation batches (several, not one), break accuracy ties
by validation loss, and re-score the ``top_k`` on the whole validation split before choosing: the
shared-weight ranking is noisy, and a tie on a single batch is common (DESIGN.md).
"""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from torch import nn

from supernet import Decision, activate, decisions as space_decisions, save_architecture

__all__ = ["derive", "describe_architecture", "write_architecture"]


def _key(arch: Dict) -> str:
    return json.dumps(arch, sort_keys=True)


def derive(model: nn.Module, strategy, task, num_samples: int = 100, num_batches: int = 10, top_k: int = 5,
           greedy: bool = True, progress=None) -> Dict:
    """Returns ``{"architecture", "score", "candidates"}``; candidates are ranked best first.

    ``task.score`` gives each candidate a ``score`` (higher is better: accuracy, or 80 / perplexity
    for language models) and a ``loss`` that breaks ties.
    """
    pool: List[Dict] = []
    if greedy and hasattr(strategy, "controller"):
        pool += strategy.controller.sample_many(1, greedy=True).archs
    pool += strategy.candidates(num_samples)
    unique = list({_key(a): a for a in pool}.values())
    batches = task.fixed_batches(num_batches)
    scored = []
    for arch in (progress(unique) if progress else unique):
        activate(model, arch)
        scored.append({"architecture": arch, **task.score(model, batches)})
    scored.sort(key=lambda r: (-r["score"], r["loss"]))
    for row in scored[:top_k]:
        activate(model, row["architecture"])
        row.update({f"full_{k}": v for k, v in task.evaluate(model, task.valid).items()})
    finalists = scored[:max(top_k, 1)]
    best = max(finalists, key=lambda r: (r.get("full_score", r["score"]), -r.get("full_loss", r["loss"])))
    return {"architecture": best["architecture"], "score": {k: v for k, v in best.items() if k != "architecture"},
            "candidates": scored}


def describe_architecture(decs: Sequence[Decision], arch: Dict) -> str:
    """A readable summary: per node ``op(input) + op(input)`` where a node pairs inputs with ops."""
    lines, nodes = [], {}
    for d in decs:
        nodes.setdefault(d.node, []).append(d)
    for node, node_decs in nodes.items():
        by_name = {d.label.rsplit("/", 1)[-1]: d for d in node_decs}
        inputs = {m.group(1): name for name in by_name if (m := re.fullmatch(r"input(\d*)", name))}
        ops = {m.group(1): name for name in by_name if (m := re.fullmatch(r"op(\d*)", name))}
        if inputs and set(inputs) == set(ops):
            terms = []
            for slot in sorted(inputs):
                d_in = by_name[inputs[slot]]
                picked = ", ".join(d_in.options[i].rsplit("/", 1)[-1] for i in arch[d_in.label])
                terms.append(f"{arch[by_name[ops[slot]].label]}({picked})")
            lines.append(f"{node} = {' + '.join(terms)}")
        else:
            for d in node_decs:
                value = arch[d.label]
                if d.kind == "input":
                    value = "[" + ", ".join(d.options[i].rsplit("/", 1)[-1] for i in value) + "]"
                lines.append(f"{d.label} = {value}")
    return "\n".join(lines)


def write_architecture(out_dir: Path, model: nn.Module, result: Dict, space: Dict, extra: Optional[Dict] = None) -> Path:
    """``architecture.json`` (what ``enas-train`` reads), ``architecture.txt`` and ``derive_candidates.csv``."""
    out_dir = Path(out_dir)
    arch = result["architecture"]
    meta = {"space": space, "derive_score": result["score"], **(extra or {})}
    path = save_architecture(out_dir / "architecture.json", arch, **meta)
    summary = describe_architecture(space_decisions(model), arch)
    if hasattr(model, "describe"):
        summary = model.describe(arch) + "\n\n" + summary
    (out_dir / "architecture.txt").write_text(summary + "\n")
    with open(out_dir / "derive_candidates.csv", "w", newline="") as f:
        metrics = list(dict.fromkeys(k for row in result["candidates"] for k in row if k != "architecture"))
        writer = csv.DictWriter(f, fieldnames=["rank", *metrics, "architecture"])
        writer.writeheader()
        for rank, row in enumerate(result["candidates"]):
            writer.writerow({"rank": rank, **{k: row.get(k, "") for k in metrics},
                             "architecture": json.dumps(row["architecture"], sort_keys=True)})
    return path


if __name__ == "__main__":
    from .cli import derive_main

    derive_main()
