"""Drawing a derived architecture with matplotlib alone (no graphviz to install).

The graph comes from the space's decisions (plain data, `supernet.decisions`) and the architecture,
so any space written with the public primitives is drawn without code of its own:

* a node whose decisions pair ``input<k>`` with ``op<k>`` (ENAS micro cells) gets one edge per pair,
  labelled by the op; ``edge<i>`` layer decisions (NAS-Bench-201) are edges from ``node<i>``, labelled
  by the op (``none`` edges are left out); a single input decision (the ENAS RNN cell) is an edge
  whose target node is labelled by its other decisions (the activation);
* any-subset input decisions (ENAS macro skips) are skip connections over a chain of layers;
* nodes that nothing feeds get an "in" source, nodes that feed nothing feed "out" (micro cells
  concatenate their loose ends, the RNN cell averages them);
* a space with no input decisions at all is drawn as a chain of its nodes in decision order.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

__all__ = ["Cell", "architecture_cells", "draw_architecture"]


@dataclass
class Cell:
    name: str
    nodes: List[str] = field(default_factory=list)                  # in decision order
    labels: Dict[str, str] = field(default_factory=dict)            # node -> text under its name
    edges: List[Tuple[str, str, str]] = field(default_factory=list)  # (source, target, label)
    chain: bool = False                                              # layers in a row, edges as skips


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1]


def _cell_of(node: str) -> str:
    return node.rsplit("/", 1)[0] if "/" in node else ""


def architecture_cells(decs: Sequence, arch: Dict) -> List[Cell]:
    """The architecture as cells of nodes and labelled edges (see the module docstring)."""
    by_node: Dict[str, List] = defaultdict(list)
    for d in decs:
        by_node[d.node].append(d)
    cells: Dict[str, Cell] = {}
    for node, node_decs in by_node.items():
        cell = cells.setdefault(_cell_of(node), Cell(_cell_of(node)))
        cell.nodes.append(node)
        slots = {_short(d.label): d for d in node_decs}
        used = set()
        for name, d in slots.items():
            value = arch.get(d.label)
            if value is None:
                continue
            m = re.fullmatch(r"input(\d*)", name)
            if d.kind == "input" and d.n_chosen is not None:
                op = slots.get(f"op{m.group(1)}") if m else None
                for i in value:
                    source = d.options[i] if d.named_inputs else f"{cell.name}/in{i}".lstrip("/")
                    cell.edges.append((source, node, str(arch.get(op.label, "")) if op else ""))
                used.add(name)
                if op is not None:
                    used.add(_short(op.label))
            elif d.kind == "input":  # any subset: skip connections
                cell.chain = True
                for i in value:
                    cell.edges.append((d.options[i], node, "skip"))
                used.add(name)
            elif (e := re.fullmatch(r"edge(\d+)", name)) and d.kind == "layer":
                if value != "none":
                    prefix = f"{cell.name}/" if cell.name else ""
                    cell.edges.append((f"{prefix}node{e.group(1)}", node, str(value)))
                used.add(name)
        rest = [f"{value}" if len(slots) == 1 or name in ("op", "activation") else f"{name}={value}"
                for name, d in slots.items() if name not in used and (value := arch.get(d.label)) is not None]
        if rest:
            cell.labels[node] = "\n".join(rest)
    for cell in cells.values():
        if not any(label != "skip" for _, _, label in cell.edges):
            cell.chain = True  # layers in a row (macro), or a space with no input decisions at all
            continue
        targets = {t for _, t, _ in cell.edges}
        sources = {s for s, _, _ in cell.edges}
        if sources <= set(cell.nodes):  # no named cell inputs: what nothing feeds takes the cell's input (RNN)
            for node in cell.nodes:
                if node not in targets:
                    cell.edges.append(("in", node, ""))
        for node in cell.nodes:
            if node not in sources:
                cell.edges.append((node, "out", ""))
    return list(cells.values())


def _depths(cell: Cell) -> Dict[str, int]:
    """Longest-path depth of every node of a DAG cell (sources at 0)."""
    names = list(dict.fromkeys([s for s, _, _ in cell.edges] + cell.nodes + [t for _, t, _ in cell.edges]))
    incoming = defaultdict(list)
    for s, t, _ in cell.edges:
        incoming[t].append(s)
    depth: Dict[str, int] = {}

    def visit(n: str, seen=()) -> int:
        if n not in depth:
            depth[n] = 1 + max((visit(s, seen + (n,)) for s in incoming[n] if s not in seen), default=-1)
        return depth[n]

    for n in names:
        visit(n)
    if "out" in depth:
        depth["out"] = max(depth.values()) if depth["out"] < max(depth.values()) else depth["out"]
    return depth


def _draw_dag(ax, cell: Cell) -> None:
    depth = _depths(cell)
    columns: Dict[int, List[str]] = defaultdict(list)
    for n, d in depth.items():
        columns[d].append(n)
    pos = {n: (d, (len(col) - 1) / 2 - i) for d, col in columns.items() for i, n in enumerate(col)}
    seen_pairs: Dict[Tuple[str, str], int] = defaultdict(int)
    for s, t, label in cell.edges:
        k = seen_pairs[(s, t)]
        seen_pairs[(s, t)] += 1
        span = abs(pos[s][0] - pos[t][0])  # edges past other columns bend, alternately up and down
        rad = (0.3 + 0.1 * (span - 2) + 0.2 * k) * (-1) ** k if span > 1 else 0.3 * k
        ax.annotate("", xy=pos[t], xytext=pos[s], zorder=1,
                    arrowprops=dict(arrowstyle="-|>", color="0.35", lw=1.0, shrinkA=18, shrinkB=18,
                                    connectionstyle=f"arc3,rad={rad}"))
        if label:
            (x0, y0), (x1, y1) = pos[s], pos[t]
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            mx, my = mx + rad * (y1 - y0) / 2, my - rad * (x1 - x0) / 2  # onto the arc's middle
            ax.text(mx, my, label, fontsize=7, ha="center", va="center", zorder=3, color="tab:blue",
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.9))
    for n, (x, y) in pos.items():
        text = _short(n) + (f"\n{cell.labels[n]}" if n in cell.labels else "")
        colour = "#f3e3c3" if n in ("in", "out") or n not in cell.nodes else "#cfe3f3"
        ax.text(x, y, text, fontsize=8, ha="center", va="center", zorder=2,
                bbox=dict(boxstyle="round,pad=0.35", fc=colour, ec="0.3"))
    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + 0.6)
    ax.set_ylim(min(ys) - 0.8, max(ys) + 0.8)


def _draw_chain(ax, cell: Cell) -> None:
    pos = {n: (i, 0.0) for i, n in enumerate(cell.nodes)}
    for a, b in zip(cell.nodes, cell.nodes[1:]):
        ax.annotate("", xy=pos[b], xytext=pos[a], arrowprops=dict(arrowstyle="-|>", color="0.3", shrinkA=14,
                                                                  shrinkB=14))
    for s, t, _ in cell.edges:
        if s in pos and t in pos:
            span = abs(pos[t][0] - pos[s][0])
            ax.annotate("", xy=pos[t], xytext=pos[s], zorder=1,
                        arrowprops=dict(arrowstyle="-|>", color="tab:orange", lw=0.9, alpha=0.8, shrinkA=14,
                                        shrinkB=14, connectionstyle=f"arc3,rad={-0.5 if span > 1 else -0.8}"))
    for n, (x, y) in pos.items():
        text = _short(n) + (f"\n{cell.labels[n]}" if n in cell.labels else "")
        ax.text(x, y, text.replace("_", "_\u200b"), fontsize=7, ha="center", va="center", zorder=2, wrap=True,
                bbox=dict(boxstyle="round,pad=0.3", fc="#cfe3f3", ec="0.3"))
    ax.set_xlim(-0.7, len(pos) - 0.3)
    ax.set_ylim(-1.0, 0.6 + 0.35 * max((abs(pos[t][0] - pos[s][0]) for s, t, _ in cell.edges
                                        if s in pos and t in pos), default=1))


def draw_architecture(decs: Optional[Sequence], arch: Dict, title: str = ""):
    """A matplotlib figure of ``arch``: one panel per cell. Without decisions (a space this process
    cannot build), the decisions are read off the architecture's labels and values alone."""
    import matplotlib.pyplot as plt

    if decs is None:
        from supernet import Decision

        decs = [Decision(label, "layer", (str(value),)) for label, value in arch.items()]
    cells = architecture_cells(decs, arch)
    widths = [max(3.0, 1.2 * (len(c.nodes) + 2)) if not c.chain else max(4.0, 1.1 * len(c.nodes)) for c in cells]
    fig, axes = plt.subplots(len(cells), 1, figsize=(min(max(widths), 22), 3.2 * len(cells)), squeeze=False)
    for ax, cell in zip(axes[:, 0], cells):
        (_draw_chain if cell.chain else _draw_dag)(ax, cell)
        ax.set_title(cell.name or title, fontsize=10)
        ax.axis("off")
    if title and any(c.name for c in cells):
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
