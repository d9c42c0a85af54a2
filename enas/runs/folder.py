"""Run folders: where a run writes, and which checkpoint a resume continues."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

__all__ = ["output_dir", "runs_root", "resolve_resume"]


def output_dir(cfg) -> Path:
    if cfg.get("output_dir"):
        path = Path(cfg.output_dir)
    else:
        try:
            from hydra.core.hydra_config import HydraConfig

            path = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # called from Python without Hydra
            path = Path("outputs") / cfg.get("task_name", "run")
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_root(cfg) -> Path:
    """The folder that holds this task's runs (``resume=true`` looks there for the latest)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir).parent
    except ValueError:
        return Path("outputs") / cfg.task_name


def resolve_resume(resume: Optional[str], search_root: Path) -> Optional[Path]:
    """``true`` -> the newest ``last.pt`` under ``search_root``; a run folder or a file in a run's
    ``checkpoints/`` folder -> that checkpoint. A file elsewhere is refused: its run folder is unknown."""
    if resume in (None, "", "false", "False"):
        return None
    if str(resume).lower() == "true":
        found = sorted(search_root.glob("**/checkpoints/last.pt"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise FileNotFoundError(f"resume=true but no checkpoints/last.pt under {str(search_root)!r}; "
                                    "pass resume=<run dir or checkpoint file>")
        return found[-1]
    path = Path(resume).expanduser()
    if path.is_dir():
        path = path / "checkpoints" / "last.pt" if (path / "checkpoints").is_dir() else path / "last.pt"
    if not path.is_file():
        raise FileNotFoundError(f"resume={resume!r}: no checkpoint at {str(path)!r}")
    if path.parent.name != "checkpoints":
        raise ValueError(f"resume={resume!r}: {path} is not inside a run's checkpoints/ folder, so there is no run "
                         "folder to continue; pass the run folder (resume=<run dir>), or copy the file to "
                         "<run dir>/checkpoints/last.pt")
    return path
