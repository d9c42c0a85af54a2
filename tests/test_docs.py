"""The code blocks of README.md and docs/*.md run, so the docs cannot rot.

What a fenced block's info string means here:

* ```` ```python ````: executed, in a fresh namespace, in the document's working folder (a temporary folder
  shared by the document's blocks, in order, and on ``sys.path`` as a script's folder is);
* ```` ```<lang> file=NAME ````: written to ``NAME`` in that folder: a file the text asks the reader to create;
* ```` ```bash ````: every command is checked without running anything: ``enas-search``, ``enas-train``,
  ``enas-derive`` and ``enas-export`` (also as ``python -m enas.*`` or under ``torchrun``) compose their configuration through the
  real entry point (Hydra's ``--cfg job``: unknown keys, wrong types, missing config files fail); ``enas-report``,
  ``enas-archive`` and ``python -m benchmarks.*`` parse their arguments with their own parsers and stop there; ``make`` targets
  must exist. Sweep syntax is reduced to its first value, and ``hydra/...`` plugins are left out;
* ```` ```bash run ````: the same commands also run, in order, at tiny size (``debug=cpu_tiny``-style overrides
  appended, one unique run folder each); ``$RUN`` is the folder of the latest search run of the document,
  and ``/path/to/images`` a small generated image folder;
* anything else (```` ```text ````, ```` ```console ````, ```` ```yaml ```` without ``file=``) is shown, not run.

In checked commands, ``$NAME`` variables and ``/path/to/...`` are the reader's paths and stay placeholders.
Every in-process run is isolated as a separate process would be: spaces it registers and modules it imports
from the working folder are forgotten afterwards.
"""
from __future__ import annotations

import argparse
import configparser
import contextlib
import importlib
import io
import logging
import os
import re
import runpy
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ENAS_COMMANDS = ("search", "train", "derive", "export", "report")  # python -m enas <command>: the console scripts
HYDRA_COMMANDS = ("enas-search", "enas-train", "enas-derive", "enas-export")
IMAGES = "/path/to/images"


# ---------------------------------------------------------------------------------------------- parsing

@dataclass
class Block:
    doc: str
    line: int  # of the opening fence
    lang: str
    attrs: Dict[str, str]
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line} (```{self.lang}{' ' if self.attrs else ''}"\
               f"{' '.join(k if v is None else f'{k}={v}' for k, v in self.attrs.items())})"


def code_blocks(path: Path) -> List[Block]:
    blocks, lines, i = [], path.read_text().splitlines(), 0
    while i < len(lines):
        opening = re.match(r"^(`{3,})(.*)$", lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening.group(1), opening.group(2).split()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        attrs = {}
        for word in info[1:]:
            key, _, value = word.partition("=")
            attrs[key] = value or None
        blocks.append(Block(path.name if path.parent == ROOT else f"docs/{path.name}", start, info[0] if info else "",
                            attrs, "\n".join(body) + "\n"))
        i += 1
    return blocks


def shell_commands(text: str) -> List[List[str]]:
    """The commands of a bash block as argument lists: continuation lines joined, comments and leading
    ``NAME=value`` environment assignments dropped."""
    commands = []
    for line in text.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def entry_points() -> Dict[str, str]:
    """console_scripts of setup.cfg: the commands a user has after ``pip install``."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "setup.cfg")
    text = parser.get("options.entry_points", "console_scripts")
    return dict((name.strip(), target.strip()) for name, target in
                (line.split("=", 1) for line in text.strip().splitlines() if "=" in line))


def load_entry_point(command: str) -> Callable:
    target = entry_points()[command]
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


# ------------------------------------------------------------------------------------- in-process runs

class _Parsed(Exception):
    """Raised once a program has parsed its arguments: the check is done, nothing more runs."""


@contextlib.contextmanager
def parse_only():
    """Make ``argparse`` stop the program right after its outermost parse (errors still exit with 2)."""
    depth = [0]
    originals = {name: getattr(argparse.ArgumentParser, name) for name in ("parse_args", "parse_known_args")}

    def wrap(original):
        def parse(self, *args, **kwargs):
            depth[0] += 1
            try:
                result = original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
            if depth[0] == 0:
                extras = result[1] if isinstance(result, tuple) else []
                unknown = [arg for arg in extras if arg.startswith("-")]  # parse_known_args leaves overrides
                if unknown:
                    self.error(f"unrecognized arguments: {' '.join(unknown)}")
                raise _Parsed(result)
            return result
        return parse

    for name, original in originals.items():
        setattr(argparse.ArgumentParser, name, wrap(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(argparse.ArgumentParser, name, original)


@contextlib.contextmanager
def as_a_process(argv: List[str], workdir: Path):
    """Run a program's main in this process as if it were its own: its argv, its output captured, and
    afterwards none of its global state (Hydra, logging, registered spaces, imported user modules)."""
    import supernet

    registry = getattr(getattr(supernet, "_registry", None), "_SPACES", None)
    spaces = dict(registry) if registry is not None else None
    modules = set(sys.modules)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    saved_argv, saved_path = sys.argv, sys.path[:]
    out = io.StringIO()
    sys.argv = list(argv)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            yield out
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
        root.handlers[:], root.level = handlers, level
        _clear_hydra()
        if spaces is not None:
            registry.clear()
            registry.update(spaces)
        for name in set(sys.modules) - modules:
            file = getattr(sys.modules[name], "__file__", None) or ""
            if file.startswith(str(workdir)):
                del sys.modules[name]


def _clear_hydra() -> None:
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    GlobalHydra.instance().clear()
    HydraConfig.instance().cfg = None


def run_main(command: str, args: List[str], workdir: Path) -> str:
    """Run an enas-* command's entry point on ``args``; returns its output, fails with it on an error."""
    main = load_entry_point(command)
    code = 0
    with as_a_process([command, *args], workdir) as out:
        _clear_hydra()
        try:
            result = main()
            if command not in HYDRA_COMMANDS:  # enas-report, enas-archive: argparse programs return their status
                code = result
        except SystemExit as stop:
            code = stop.code
    if code not in (0, None):
        raise AssertionError(f"{command} {' '.join(args)} exited with {code}:\n{out.getvalue()[-3000:]}")
    return out.getvalue()


def check_values(printed: str) -> None:
    """Values of the right type that cannot work (``controller.kind=lsmt``), as the run would refuse them."""
    from omegaconf import OmegaConf

    for module in ("enas.config", "enas.config.checks"):
        validate = getattr(importlib.import_module(module), "validate_values", None)
        if validate is not None:
            return validate(OmegaConf.create(printed))
    raise AssertionError("enas.config exports no validate_values to check the values with")


def parse_with_own_parser(program: Callable[[], object], argv: List[str], workdir: Path) -> None:
    code = 0
    with as_a_process(argv, workdir) as out, parse_only():
        try:
            program()
        except _Parsed:
            return
        except SystemExit as stop:
            code = stop.code
    raise AssertionError(f"{' '.join(argv)}: " + (f"exited with {code} while parsing its arguments:\n"
                                                  f"{out.getvalue()[-2000:]}" if code else "parsed no arguments"))


# ------------------------------------------------------------------------------------- the commands

def _placeholder(name: str) -> str:
    return f"/path/to/{name.lower()}"


def substitute(word: str, variables: Dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: variables.get(m.group(1), _placeholder(m.group(1))),
                  word)


def _first_of_sweep(value: str) -> str:
    depth, quote = 0, None
    for i, ch in enumerate(value):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[({":
            depth += 1
        elif ch in "])}":
            depth -= 1
        elif ch == "," and depth == 0:
            return value[:i]
    return value


def single_run_overrides(args: List[str]) -> List[str]:
    """A sweep's arguments as one run's: no -m, the first value of each swept key, no sweeper or launcher
    plugins (they need extras) and no sweep functions."""
    kept = []
    for arg in args:
        if arg in ("-m", "--multirun") or arg.startswith(("hydra/", "hydra.")):
            continue
        key, eq, value = arg.partition("=")
        if eq and re.match(r"^(interval|range|choice|glob)\(", value):
            continue
        kept.append(f"{key}={_first_of_sweep(value)}" if eq else arg)
    return kept


def _option(args: List[str], key: str) -> Optional[str]:
    values = [a.split("=", 1)[1] for a in args if a.startswith(key + "=")]
    return values[-1] if values else None


def tiny_overrides(command: str, args: List[str], resumes: int) -> List[str]:
    if command == "enas-search":
        if _option(args, "resume"):
            return [f"trainer.epochs={3 + resumes}"]  # one epoch more than the tiny run had: an allowed key
        tiny = [] if _option(args, "debug") else ["debug=cpu_tiny"]
        space = _option(args, "space")
        if space in (None, "micro", "micro_quick"):
            tiny += ["space.num_layers=1", "space.out_channels=8", "space.num_nodes=3"]
        elif space == "nb201":
            tiny += ["space.C=4", "space.N=1"]
        return tiny + ["trainer.epochs=2"]
    if command == "enas-train":
        return ([] if _option(args, "debug") else ["debug=cpu_tiny_train"]) + ["trainer.epochs=1"]
    if command == "enas-derive":
        return ["device=cpu", "derive.num_samples=4", "derive.uniform_samples=0", "derive.num_batches=1",
                "derive.top_k=2"]
    return []


def make_image_folder(root: Path, classes: int = 2, per_class: int = 40, size: int = 16) -> Path:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        (root / f"class{c}").mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            pixels[..., c] //= 4  # a little signal: one channel darker per class
            Image.fromarray(pixels).save(root / f"class{c}" / f"{i}.png")
    return root


@dataclass
class Session:
    """One document's working folder and what its blocks left there."""
    workdir: Path
    run: Optional[str] = None  # the latest search run folder ($RUN)
    runs: int = 0
    resumes: int = 0
    images: Optional[Path] = None
    seen: List[str] = field(default_factory=list)

    def image_folder(self) -> str:
        if self.images is None:
            self.images = make_image_folder(self.workdir / "images")
        return str(self.images)


def command_of(words: List[str]):
    """(kind, name, args) of a shell command: kind is 'enas', 'benchmark', 'make', 'script' or None."""
    program = os.path.basename(words[0])
    if program in entry_points():
        return "enas", program, words[1:]
    if program == "torchrun" and "-m" in words:
        words = ["python", *words[words.index("-m"):]]
        program = "python"
    if program in ("python", "python3") and len(words) > 2 and words[1] == "-m":
        module = words[2]
        if module == "enas" and len(words) > 3 and words[3] in ENAS_COMMANDS:
            return "enas", f"enas-{words[3]}", words[4:]
        if module == "enas.report":
            return "enas", "enas-report", words[3:]
        if module.split(".")[0] == "benchmarks":
            return "benchmark", module, words[3:]
        return "module", module, words[3:]
    if program in ("python", "python3") and len(words) > 1 and words[1].endswith(".py"):
        return "script", words[1], words[2:]
    if program == "make":
        return "make", words[1] if len(words) > 1 else "", words[2:]
    return None, program, words[1:]


def check_command(words: List[str], session: Session) -> None:
    kind, name, args = command_of([substitute(w, {}) for w in words])
    if kind == "enas" and name in HYDRA_COMMANDS:
        printed = run_main(name, [*single_run_overrides(args), "--cfg", "job"], session.workdir)
        check_values(printed)
    elif kind == "enas":  # enas-report, enas-archive
        parse_with_own_parser(load_entry_point(name), [name, *args], session.workdir)
    elif kind == "benchmark":
        sys.path.insert(0, str(ROOT))  # `python -m` from the checkout's root
        try:
            parse_with_own_parser(lambda: runpy.run_module(name, run_name="__main__", alter_sys=True),
                                  [name, *args], session.workdir)
        finally:
            sys.path.remove(str(ROOT))
    elif kind == "module":
        assert importlib.util.find_spec(name) is not None, f"python -m {name}: no such module"
    elif kind == "script":
        assert (ROOT / name).is_file(), f"python {name}: no such file in the checkout"
    elif kind == "make":
        targets = re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.M)
        assert name in targets, f"make {name}: the Makefile has no such target ({', '.join(targets)})"


def run_command(words: List[str], session: Session) -> None:
    kind, name, rest = command_of(words)
    if kind != "enas":
        return
    variables = {"RUN": session.run} if session.run else {}
    args = [substitute(w, variables) for w in rest]
    args = [a.replace(IMAGES, session.image_folder()) if IMAGES in a else a for a in args]
    unfilled = [a for a in args if "/path/to/" in a]
    assert not unfilled, f"a `bash run` block must run as written, but {unfilled[0]!r} is a placeholder"
    args += tiny_overrides(name, args, session.resumes)
    resume = name == "enas-search" and _option(args, "resume")
    if name in HYDRA_COMMANDS:
        session.runs += 1
        folder = f"outputs/{name.split('-')[1]}/doc-run-{session.runs}"
        args.append(f"hydra.run.dir={folder}")
    run_main(name, args, session.workdir)
    if resume:
        session.resumes += 1
    elif name == "enas-search":
        session.run = str(session.workdir / folder)
        assert (session.workdir / folder / "architecture.json").is_file(), f"no architecture.json in {folder}"


# --------------------------------------------------------------------------------------------- tests

def run_block(block: Block, session: Session) -> None:
    if "file" in block.attrs:
        path = session.workdir / block.attrs["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(block.text)
    elif block.lang == "python":
        code = compile(block.text, block.where, "exec")
        with as_a_process([block.where], session.workdir) as out:
            sys.path.insert(0, str(session.workdir))
            try:
                exec(code, {"__name__": "__main__"})
            except Exception as error:
                raise AssertionError(f"{type(error).__name__}: {error}\noutput:\n{out.getvalue()[-2000:]}") from error
    elif block.lang == "bash":
        for words in shell_commands(block.text):
            check_command(words, session)
            if "run" in block.attrs:
                run_command(words, session)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_blocks_run(doc: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session, failures = Session(tmp_path), []
    for block in code_blocks(doc):  # all of them, so that one report lists every block that fails
        try:
            run_block(block, session)
        except AssertionError as error:
            failures.append(f"{block.where}: {error}")
        except Exception as error:
            failures.append(f"{block.where}: {type(error).__name__}: {error}")
    assert not failures, f"{len(failures)} block(s) failed (later ones may follow from earlier ones):\n\n" + \
        "\n\n".join(failures)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_lead_somewhere(doc: Path):
    """Relative links name files of the checkout, and their #anchors headings of those files."""
    text = re.sub(r"^```.*?^```", "", doc.read_text(), flags=re.S | re.M)
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (doc.parent / path).resolve() if path else doc
        if not file.exists():
            problems.append(f"{target}: no such file")
            continue
        if anchor and file.suffix == ".md":
            headings = re.findall(r"^#+\s+(.*)$", re.sub(r"^```.*?^```", "", file.read_text(), flags=re.S | re.M),
                                  flags=re.M)
            if anchor not in {slug(h) for h in headings}:
                problems.append(f"{target}: no heading with that anchor in {file.name}")
    assert not problems, f"{doc.name}: " + "; ".join(problems)


def test_readme_is_a_short_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; details belong in docs/"
    recipe = next(i for i, line in enumerate(lines) if line.startswith("## Your space on your data"))
    assert recipe < 100, "the recipe for your own space and data should start within the first 100 lines"


def test_docs_name_no_files_outside_the_checkout():
    for doc in DOCS:
        text = doc.read_text()
        assert "../shared" not in text, f"{doc.name} points outside the checkout; use a placeholder path"
