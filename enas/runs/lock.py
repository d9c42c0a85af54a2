"""A run folder belongs to one process at a time: `RunLock` holds ``.lock`` (PID, host) while a search or
retrain writes there; a second process, a fresh run or a resume, is refused with the holder's PID. A
lock whose process is gone is taken over, and temporary files its writer left behind are removed.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Optional, Union

from .checkpoint import TEMP_PATTERNS

__all__ = ["RunLock", "RunFolderInUse"]


class RunFolderInUse(RuntimeError):
    """Another live process writes this run folder."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """Hold ``<run dir>/.lock`` while writing there. ``acquire`` refuses a folder a live process holds."""

    def __init__(self, directory: Union[str, Path]):
        self.directory = Path(directory)
        self.path = self.directory / ".lock"
        self.held = False

    def holder(self) -> Optional[Dict[str, Any]]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def acquire(self) -> "RunLock":
        self.directory.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(2):
            if self._create_with(me):
                self.held = True
                self._remove_leftovers()
                return self
            other = self.holder()
            if other is None and self.path.exists():  # unreadable: not a lock this code wrote
                raise RunFolderInUse(f"run folder {self.directory} has a lock file that is not ours ({self.path}); "
                                     "remove it if no run uses that folder")
            if other and other.get("host") == me["host"] and other.get("pid") != me["pid"] and _alive(other["pid"]):
                raise RunFolderInUse(f"run folder {self.directory} is in use by process {other['pid']} (since "
                                     f"{other.get('since')}); wait for it to finish or stop it, or pick "
                                     "another folder") from None
            if other and other.get("host") != me["host"]:
                raise RunFolderInUse(f"run folder {self.directory} is locked by process {other.get('pid')} on "
                                     f"host {other.get('host')}; remove {self.path} if that run is gone") from None
            self.path.unlink(missing_ok=True)  # a killed writer's lock
        raise RunFolderInUse(f"could not lock run folder {self.directory}")

    def _create_with(self, owner: Dict[str, Any]) -> bool:
        """Create the lock file with its owner already in it, or return False if it exists: the owner is
        written to a private file that is then hard-linked into place, so no process ever sees an empty lock."""
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".lock.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(owner, f)
            os.chmod(tmp, 0o644)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _remove_leftovers(self) -> None:
        """Temporary files of writers that were killed mid-write (never a finished file)."""
        for folder in (self.directory, self.directory / "checkpoints"):
            for pattern in TEMP_PATTERNS:
                for tmp in folder.glob(pattern):
                    tmp.unlink(missing_ok=True)

    def release(self) -> None:
        if self.held:
            other = self.holder()
            if other and other.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
