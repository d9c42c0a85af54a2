"""``python -m enas.search [overrides]``: the same as ``enas-search`` (and what ``torchrun -m`` launches)."""
from enas.cli import search_main

if __name__ == "__main__":
    search_main()
