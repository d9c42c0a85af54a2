"""What derive leaves in the run folder: ``architecture.json`` (what ``enas-train`` reads), a readable
``architecture.txt``, and ``derive_candidates.csv`` (every candidate with every signal, the pick marked)."""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Dict, Optional, Sequence

from torch import nn

from supernet import Decision, architecture_key, decisions as space_decisions, save_architecture

__all__ = ["describe_architecture", "write_architecture", "write_candidates"]


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
    if hasattr(model, "describe"):  # a space's own drawing of the architecture (micro, macro)
        summary = model.describe(arch) + "\n\n" + summary
    (out_dir / "architecture.txt").write_text(summary + "\n")
    write_candidates(out_dir / "derive_candidates.csv", result["candidates"])
    return path


def write_candidates(path: Path, rows: Sequence[Dict]) -> None:
    """Scored architectures as CSV, in their order (``rank`` from 0), every column any row has, the
    architecture last as its JSON key."""
    with open(path, "w", newline="") as f:
        metrics = list(dict.fromkeys(k for row in rows for k in row if k != "architecture"))
        writer = csv.DictWriter(f, fieldnames=["rank", *metrics, "architecture"])
        writer.writeheader()
        for rank, row in enumerate(rows):
            writer.writerow({"rank": rank, **{k: row.get(k, "") for k in metrics},
                             "architecture": architecture_key(row["architecture"])})
