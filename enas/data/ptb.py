"""Penn Treebank (Mikolov's ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``; 10k words with
``<eos>`` at each line end) as token tensors, cut into parallel streams on the device."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch

__all__ = ["load_ptb", "batchify", "PTB_FILES"]

PTB_FILES = ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt")


def load_ptb(root: str) -> Tuple[Dict[str, torch.Tensor], List[str]]:
    """Token ids of the three splits and the vocabulary (train words + ``<eos>``)."""
    if root is None:
        raise ValueError("data.root is required for PTB: the folder with ptb.train.txt, ptb.valid.txt, ptb.test.txt")
    path = Path(root).expanduser()
    missing = [name for name in PTB_FILES if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"data.root={str(path)!r} lacks {', '.join(missing)} (Mikolov's PTB files)")
    words = {split: (path / name).read_text().replace("\n", " <eos> ").split()
             for split, name in zip(("train", "valid", "test"), PTB_FILES)}
    vocab = sorted(set(words["train"]))
    index = {w: i for i, w in enumerate(vocab)}
    unknown = [w for split in ("valid", "test") for w in words[split] if w not in index]
    if unknown:
        raise ValueError(f"{len(unknown)} valid/test words are not in the training vocabulary, e.g. {unknown[0]!r}")
    return {s: torch.from_numpy(np.fromiter((index[w] for w in ws), dtype=np.int64, count=len(ws)))
            for s, ws in words.items()}, vocab


def batchify(tokens: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """(T, batch_size): ``batch_size`` contiguous streams; the ragged end is dropped."""
    n = tokens.numel() // batch_size
    if n < 2:
        raise ValueError(f"{tokens.numel()} tokens are too few for batch size {batch_size}")
    return tokens[:n * batch_size].view(batch_size, n).t().contiguous().to(device)
