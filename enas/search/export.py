"""Export a derived child for deployment: ONNX and TorchScript files, each loaded back and checked on a batch.

``enas-export run=<enas-train run>`` exports the retrained child with its trained weights (the run's
``checkpoints/last.pt`` holds the space, the architecture and the weights); ``enas-export
architecture=<architecture.json>`` exports a freshly initialised child of that architecture (to time it,
or to test a deployment path before the training ends). Both write ``child.onnx`` and ``child.pt``
(TorchScript, by tracing) into the output folder and ``export.json``: for each file, the largest absolute
difference between its outputs and the PyTorch child's on one batch, and whether that is within
``tolerance``. ONNX goes through PyTorch's exporter (``torch.onnx.export``, which needs ``onnxscript``) and
is checked with onnxruntime; both are the ``export`` extra.

The example batch is what the child takes: images ``[batch, 3, 32, 32]`` (``image_size`` and
``channels`` otherwise) for the image spaces, token ids ``[bptt, batch]`` and the hidden state for the
recurrent cell, whose files take and return the hidden state so that a caller can carry it.
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import torch
from torch import nn

from supernet import freeze, load_architecture, use_running_stats

from ..config import check_config
from ..runs.checkpoint import load_checkpoint
from ..runs.console import announce
from ..runs.folder import output_dir
from ..runs.process import import_modules
from .build import build_supernet
from .retrain import searched_space

__all__ = ["export", "export_child", "example_inputs", "load_child", "FORMATS"]

FORMATS = ("onnx", "torchscript")
log = logging.getLogger("enas")


def example_inputs(model: nn.Module, batch: int = 2, image_size: int = 32, channels: int = 3,
                   bptt: int = 8) -> Tuple[torch.Tensor, ...]:
    """One batch the child takes: token ids and a hidden state for a language model, else images."""
    if hasattr(model, "init_hidden") and hasattr(model, "embedding"):
        tokens = torch.randint(0, model.embedding.num_embeddings, (bptt, batch))
        return tokens, model.init_hidden(batch)
    return (torch.randn(batch, channels, image_size, image_size),)


def _outputs(value) -> List[torch.Tensor]:
    return [v for v in value] if isinstance(value, (tuple, list)) else [value]


def load_child(run: str = None, architecture: str = None) -> Tuple[nn.Module, Dict]:
    """(child in eval mode, its space) from an ``enas-train`` run's checkpoint, or a fresh child of an
    architecture file at the size it was searched."""
    if run:
        state = load_checkpoint(Path(run).expanduser())
        if "model" not in state or "architecture" not in state:
            raise ValueError(f"run={run} is not an enas-train run (its checkpoint holds no trained child); "
                             "for a search's pick, pass architecture=<run>/architecture.json")
        space = state["space"]
        supernet, _ = build_supernet({"name": space["name"], **space["kwargs"]}, torch.device("cpu"))
        child = use_running_stats(freeze(supernet, state["architecture"]))
        child.load_state_dict(state["model"])
        return child.eval(), space
    path = Path(architecture).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"architecture={architecture!r}: no such file (use the architecture.json a search wrote)")
    space = searched_space(path)
    if space is None:
        raise ValueError(f"{path} does not record the space it was searched in; export it with run=<enas-train run>")
    supernet, space = build_supernet({"name": space["name"], **space.get("kwargs", {})}, torch.device("cpu"))
    return use_running_stats(freeze(supernet, load_architecture(path, supernet))).eval(), space


def export_child(model: nn.Module, example: Sequence[torch.Tensor], out: Path, formats: Sequence[str] = FORMATS,
                 tolerance: float = 1e-4) -> Dict[str, Dict]:
    """Write ``model`` in each of ``formats`` to ``out`` and check each file's outputs against the model's on
    ``example``; returns ``{format: {"path", "max_abs_diff", "within_tolerance"}}`` (also ``export.json``)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format {unknown[0]!r}; available: {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    example = tuple(example)
    with torch.no_grad():
        reference = _outputs(model(*example))
    names = [f"input{i}" for i in range(len(example))]
    report: Dict[str, Dict] = {}
    for fmt in formats:
        if fmt == "torchscript":
            path = out / "child.pt"
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch deprecates TorchScript; the docs say so
                torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))
                got = _outputs(torch.jit.load(str(path))(*example))
        else:
            path = out / "child.onnx"
            _onnx(model, example, path, names, len(reference))
            got = _onnx_run(path, names, example)
        diff = max(float((g.float() - r.float()).abs().max()) for g, r in zip(got, reference))
        report[fmt] = {"path": str(path), "max_abs_diff": diff, "within_tolerance": diff <= tolerance}
        log.info("%s: %s, largest difference from the PyTorch child %.3g", fmt, path, diff)
    (out / "export.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def _onnx(model: nn.Module, example, path: Path, names: List[str], outputs: int) -> None:
    try:
        import onnxscript  # noqa: F401  torch.onnx's exporter is built on it
    except ImportError:
        raise ImportError("ONNX export needs onnxscript and onnxruntime: pip install 'enas[export]'") from None
    torch.onnx.export(model, example, str(path), dynamo=True, input_names=names,
                      output_names=[f"output{i}" for i in range(outputs)], external_data=False, verbose=False)


def _onnx_run(path: Path, names: List[str], example) -> List[torch.Tensor]:
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("checking the ONNX file needs onnxruntime: pip install 'enas[export]'") from None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    fed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), example)}
    return [torch.from_numpy(v) for v in session.run(None, fed)]


def export(cfg) -> Dict[str, Dict]:
    """``enas-export``: the child ``cfg`` names, written in ``cfg.formats`` to the run folder and checked."""
    check_config(cfg)
    if bool(cfg.run) == bool(cfg.architecture):
        raise ValueError("enas-export needs one of run=<enas-train run> (the trained child) and "
                         "architecture=<architecture.json> (a fresh child)")
    import_modules(cfg.imports)
    model, space = load_child(cfg.run, cfg.architecture)
    example = example_inputs(model, cfg.batch_size, cfg.image_size, cfg.channels, cfg.bptt)
    out = output_dir(cfg)
    report = export_child(model, example, out, list(cfg.formats), cfg.tolerance)
    lines = [f"{fmt}: {r['path']} (largest difference from the PyTorch child {r['max_abs_diff']:.2g})"
             for fmt, r in report.items()]
    announce(f"\nExported the child of {space['name']} {space['kwargs']}:\n" + "\n".join(lines) + "\n")
    bad = [fmt for fmt, r in report.items() if not r["within_tolerance"]]
    if bad:
        raise ValueError(f"the {', '.join(bad)} file's outputs differ from the child's by more than "
                         f"tolerance={cfg.tolerance} (export.json in {out})")
    return report
