"""Build ``enas/data/assets/cifar10_mini.npz``: the small real dataset that ships inside the package.

The default search (``make search``) must run on a fresh machine with no download, so we embed
3,000 training and 1,000 test images of CIFAR-10 (Krizhevsky, 2009), pixel-exact originals taken
from ``shared/data/cifar10/lossless_subset.npz`` (official train indices 0..2999, test 0..999).
Each split is stored as one PNG mosaic (one image per row of 32 pixel rows), which compresses the
pixels losslessly to about 8.7 MB, well under the 10 MB budget of the package.

    python scripts/make_embedded_cifar10.py ../shared/data/cifar10/lossless_subset.npz
"""
import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image

N_TRAIN, N_TEST = 3000, 1000


def to_png(images: np.ndarray) -> np.ndarray:
    mosaic = images.reshape(-1, 32, 3)  # (N*32, 32, 3): images stacked vertically
    buf = io.BytesIO()
    Image.fromarray(mosaic).save(buf, format="PNG", optimize=True)
    return np.frombuffer(buf.getvalue(), dtype=np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lossless_subset", type=Path)
    parser.add_argument("--out", type=Path, default=Path(__file__).parents[1] / "enas/data/assets/cifar10_mini.npz")
    args = parser.parse_args()
    src = np.load(args.lossless_subset)
    np.savez(
        args.out,
        train_png=to_png(src["train_x"][:N_TRAIN]), train_y=src["train_y"][:N_TRAIN].astype(np.uint8),
        train_idx=src["train_idx"][:N_TRAIN], test_png=to_png(src["test_x"][:N_TEST]),
        test_y=src["test_y"][:N_TEST].astype(np.uint8), test_idx=src["test_idx"][:N_TEST],
    )
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
