"""``python -m enas {search,derive,train,export,report} [overrides]``: the console scripts without installing them."""
import sys

from enas.cli import derive_main, export_main, search_main, train_main
from enas.report import main as report_main

COMMANDS = {"search": search_main, "derive": derive_main, "train": train_main, "export": export_main,
            "report": report_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: python -m enas {{{','.join(COMMANDS)}}} [overrides]")
    command = sys.argv.pop(1)
    sys.argv[0] = f"enas-{command}"
    COMMANDS[command]()
