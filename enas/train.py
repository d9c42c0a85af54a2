"""``python -m enas.train architecture=...``: retrain a derived architecture (see `enas.retrain`)."""
from .cli import train_main

if __name__ == "__main__":
    train_main()
