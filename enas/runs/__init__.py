"""Run plumbing: run folders, locks, checkpoints, metrics, the process and its device, several processes."""
from .checkpoint import CheckpointError, atomic_write, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .console import Progress, announce, progress
from .folder import output_dir, resolve_resume, runs_root
from .lock import RunFolderInUse, RunLock
from .malloc import keep_freed_memory_mapped
from .metrics import MetricsLogger
from .policy_log import read_policy, record_policy
from .process import prepare_process, resolve_device, seed_everything

__all__ = ["CheckpointError", "atomic_write", "load_checkpoint", "rng_state", "save_checkpoint", "set_rng_state",
           "Progress", "announce", "progress", "output_dir", "resolve_resume", "runs_root", "RunFolderInUse", "RunLock",
           "keep_freed_memory_mapped", "MetricsLogger", "read_policy", "record_policy", "prepare_process",
           "resolve_device", "seed_everything"]
