"""The archive of a run, ``archive.jsonl``: every architecture the run measured, one JSON line per measurement.

A later search reads archives to start from what earlier ones learned (``predictor.warm_start``,
``controller.warm_start``, ``evolution.warm_start``), and ``enas-archive merge`` joins them across runs.
Each line is self-contained, so lines of different runs, spaces and datasets can sit in one file:

``space``
    the space's name (null for a model given from Python) and ``space_kwargs``, its size settings;
``data``
    the dataset the scores were measured on (``data.name``, e.g. ``cifar10``);
``architecture``
    the architecture (decision label -> value), as ``architecture.json`` writes it;
``source``
    what measured it: ``reward`` (the strategy's learning phase on the shared weights), ``derive`` (derive's
    candidates), ``trial`` (a child trained by multi-trial search) or ``table`` (a benchmark's lookup table);
``epoch``
    the search epoch of the measurement (a trial's number in multi-trial search): scores of one epoch were
    measured with the same shared weights, so only they compare with each other;
``score``
    the number the search ranked by, higher is better (a reward, derive's score, a trial's validation score);
``signals``
    other numbers measured for it, by name (derive's signals, a trial's epochs) — optional;
``cost``
    the child's ``params`` and ``flops`` at the searched size, where the run measured them — optional.

A one-shot search writes each epoch's lines in one append before that epoch's checkpoint, and a resumed run
first drops the lines of the epochs it will run again, so every measurement is counted once; a line cut short
by a kill is ignored when read.
"""
from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

from .checkpoint import atomic_write

__all__ = ["ARCHIVE", "SOURCES", "Archive", "read_archive", "read_archives", "merge_archives", "rank_targets", "archive_file", "summary",
           "main"]

ARCHIVE = "archive.jsonl"
SOURCES = ("reward", "derive", "trial", "table")


class Archive:
    """The archive of one run folder (``folder`` None: kept in memory only); lines are buffered by `add` and
    written by `flush`."""

    def __init__(self, folder: Optional[Union[str, Path]], space: Mapping, data: str):
        self.path = Path(folder) / ARCHIVE if folder is not None else None
        self.space, self.kwargs, self.data = space.get("name"), dict(space.get("kwargs") or {}), str(data)
        self.pending: List[Dict] = []

    def add(self, arch: Mapping, score: float, source: str, epoch: int, signals: Optional[Mapping] = None,
            cost: Optional[Mapping] = None) -> None:
        self.pending.append(self.row(arch, score, source, epoch, signals, cost))

    def row(self, arch: Mapping, score: float, source: str, epoch: int, signals: Optional[Mapping] = None,
            cost: Optional[Mapping] = None) -> Dict:
        """One line (see the module docstring), not buffered."""
        if source not in SOURCES:
            raise ValueError(f"unknown archive source {source!r}; one of {', '.join(SOURCES)}")
        row = {"space": self.space, "space_kwargs": self.kwargs, "data": self.data, "architecture": dict(arch),
               "source": source, "epoch": int(epoch), "score": _number(score)}
        if signals:
            row["signals"] = {k: _number(v) for k, v in signals.items() if isinstance(v, (int, float))}
        if cost:
            row["cost"] = {k: _number(v) for k, v in cost.items()}
        return row

    def flush(self) -> None:
        """Append the buffered lines in one write (then fsync), so a kill leaves at most one cut line."""
        if self.path is None or not self.pending:
            return  # in memory: the lines stay in ``pending``
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.pending)
        with open(self.path, "a") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        self.pending = []

    def truncate(self, before_epoch: int, source: str = "reward") -> None:
        """Drop ``source``'s lines of epochs ``>= before_epoch`` and anything a kill cut short: what a resumed
        run measures again. The rest is rewritten atomically."""
        self.pending = []
        if self.path is None or not self.path.is_file():
            return
        kept = [r for r in _lines(self.path) if r["source"] != source or r["epoch"] < before_epoch]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in kept)
        atomic_write(lambda tmp: Path(tmp).write_text(text), self.path)

    def rewrite(self, rows: Iterable[Mapping]) -> None:
        """Replace the whole archive (multi-trial search: its lines follow the trials file, which is rewritten)."""
        self.pending = []
        if self.path is not None:
            text = "".join(json.dumps(dict(r), sort_keys=True) + "\n" for r in rows)
            atomic_write(lambda tmp: Path(tmp).write_text(text), self.path)


def _number(value) -> Optional[float]:
    """JSON has no NaN or infinity: those become null."""
    value = float(value)
    return value if math.isfinite(value) else None


def archive_file(path: Union[str, Path]) -> Path:
    """The archive file of a run folder, or the file itself; a clear error when there is none."""
    path = Path(path)
    if path.is_dir():
        if not (path / ARCHIVE).is_file():
            raise FileNotFoundError(f"{path} has no {ARCHIVE}: it is not a run folder of a search that keeps an "
                                    "archive (give the run folder or the archive file)")
        return path / ARCHIVE
    if not path.is_file():
        raise FileNotFoundError(f"archive {path} does not exist (give a run folder or an {ARCHIVE} file)")
    return path


def read_archive(path: Union[str, Path]) -> List[Dict]:
    """The lines of one archive (a run folder or a file), each tagged with ``origin`` (the file it came from)
    unless it already names one (a merged archive keeps its lines' origins). A last line without its newline
    (a kill in the middle of an append) is skipped; any other line that is not an archive line is an error."""
    file = archive_file(path)
    rows = _lines(file)
    for row in rows:
        row.setdefault("origin", str(file.parent if file.name == ARCHIVE else file))
    return rows


def _lines(file: Path) -> List[Dict]:
    """The lines of an archive file as written (no ``origin`` added)."""
    text = file.read_text()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # cut short by a kill
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}, line {number}: not JSON ({err.msg})") from None
        missing = [k for k in ("architecture", "source", "epoch", "score", "data") if k not in row]
        if missing:
            raise ValueError(f"{file}, line {number}: not an archive line (missing {', '.join(missing)})")
        rows.append(row)
    return rows


def read_archives(paths: Sequence[Union[str, Path]]) -> List[Dict]:
    return [row for p in paths for row in read_archive(p)]


def merge_archives(paths: Sequence[Union[str, Path]], out: Union[str, Path]) -> Dict[str, int]:
    """Write the lines of every archive in ``paths`` to one file ``out`` (atomically), each keeping its
    ``origin``; the same line read twice (an archive given twice, or merged before) is kept once.
    Returns the number of lines per data set."""
    seen, rows = set(), []
    for row in read_archives(paths):
        key = json.dumps(row, sort_keys=True)
        if key not in seen:
            seen.add(key)
            rows.append(row)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    atomic_write(lambda tmp: Path(tmp).write_text(text), out)
    counts: Dict[str, int] = defaultdict(int)
    for r in rows:
        counts[r["data"]] += 1
    return dict(counts)


def rank_targets(rows: Sequence[Mapping]) -> List[float]:
    """Each line's score as its rank within its group (same origin, source and epoch: numbers measured alike),
    scaled to [0, 1] (ties share their mean rank; a group of one gets 0.5; a missing score gets None).

    Ranks put archives of other data, other seeds and other stages of training on one scale: a warm start
    learns which architectures were better, not the accuracy level of another dataset."""
    groups: Dict[tuple, List[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r.get("score") is not None:
            groups[(r.get("origin"), r["source"], r["epoch"])].append(i)
    out: List[Optional[float]] = [None] * len(rows)
    for members in groups.values():
        ordered = sorted(members, key=lambda i: rows[i]["score"])
        position = 0
        while position < len(ordered):
            end = position
            while end + 1 < len(ordered) and rows[ordered[end + 1]]["score"] == rows[ordered[position]]["score"]:
                end += 1
            mean_rank = (position + end) / 2
            for i in ordered[position:end + 1]:
                out[i] = mean_rank / (len(ordered) - 1) if len(ordered) > 1 else 0.5
            position = end + 1
    return out


def summary(rows: Sequence[Mapping]) -> str:
    """Lines and distinct architectures per space, data and source, and the best architecture by mean rank."""
    from collections import Counter

    groups = Counter((r.get("space"), r["data"], r["source"]) for r in rows)
    distinct = defaultdict(set)
    for r in rows:
        distinct[(r.get("space"), r["data"], r["source"])].add(json.dumps(r["architecture"], sort_keys=True))
    out = [f"{'space':<10}{'data':<16}{'source':<8}{'lines':>8}{'architectures':>15}"]
    for (space, data, source), n in sorted(groups.items(), key=lambda kv: str(kv[0])):
        out.append(f"{str(space):<10}{data:<16}{source:<8}{n:>8}{len(distinct[(space, data, source)]):>15}")
    by_arch: Dict[str, List[float]] = defaultdict(list)
    for r, t in zip(rows, rank_targets(rows)):
        if t is not None:
            by_arch[json.dumps(r["architecture"], sort_keys=True)].append(t)
    if by_arch:
        key, ranks = max(by_arch.items(), key=lambda kv: (sum(kv[1]) / len(kv[1]), len(kv[1])))
        out.append(f"best by mean rank ({sum(ranks) / len(ranks):.3f} over {len(ranks)} measurements): {key}")
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``enas-archive show RUN...`` prints what archives hold; ``enas-archive merge OUT RUN...`` joins them."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="enas-archive", description="What earlier searches measured: show or "
                                     "merge the archive.jsonl of run folders (or archive files).")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("show", help="lines per space, data and source, and the best architecture")
    show.add_argument("archives", nargs="+", type=Path, help="run folders or archive files")
    merge = commands.add_parser("merge", help="write the lines of several archives to one file")
    merge.add_argument("out", type=Path, help="the merged archive file to write (e.g. archives/nb201.jsonl)")
    merge.add_argument("archives", nargs="+", type=Path, help="run folders or archive files")
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            print(summary(read_archives(args.archives)))
        else:
            counts = merge_archives(args.archives, args.out)
            print(f"{sum(counts.values())} lines ({', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))}) "
                  f"written to {args.out}")
    except (FileNotFoundError, ValueError) as err:
        print(f"enas-archive: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
