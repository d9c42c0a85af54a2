"""Run folders: where a run writes, and which checkpoint a resume continues."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

__all__ = ["output_dir", "runs_root", "resolve_resume", "write_record"]


def output_dir(cfg) -> Path:
    """The run's folder (``output_dir``, else Hydra's run folder), created; one clear error when it is a
    file or cannot be written."""
    if cfg.get("output_dir"):
        path = Path(cfg.output_dir).expanduser()
    else:
        try:
            from hydra.core.hydra_config import HydraConfig

            path = Path(HydraConfig.get().runtime.output_dir)
        except ValueError:  # called from Python without Hydra
            path = Path("outputs") / cfg.get("task_name", "run")
    blocked = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocked is not None:
        raise NotADirectoryError(f"the run folder {path} cannot be created: {blocked} is a file; pick another "
                                 "output_dir (or hydra.run.dir)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(err.errno, f"the run folder {path} cannot be created ({err.strerror}); pick another "
                                 "output_dir (or hydra.run.dir)") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"the run folder {path} is not writable; pick another output_dir (or hydra.run.dir)")
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


def write_record(out: Path, cfg) -> None:
    """What a run is, in its folder: ``config.yaml`` (everything) and, under Hydra, ``overrides.yaml`` (what
    the command line changed). Written by the run that owns the folder, never by one that was refused."""
    from omegaconf import OmegaConf

    OmegaConf.save(cfg, out / "config.yaml")
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = list(HydraConfig.get().overrides.task)
    except ValueError:  # called from Python without Hydra
        return
    OmegaConf.save(OmegaConf.create(overrides), out / "overrides.yaml")
