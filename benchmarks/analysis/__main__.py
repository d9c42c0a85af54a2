"""``python -m benchmarks.analysis <subcommand> [args]``: one entry point for the analyses.

Each subcommand is a module of this package with ``add_arguments(parser)`` and ``run(args)``; its
docstring is its ``--help``.
"""
from __future__ import annotations

import argparse
from importlib import import_module
from typing import Optional, Sequence

SUBCOMMANDS = {
    "pick": "pick",
    "policy-pool": "policy_pool",
    "proxy-seeds": "proxy_seeds",
    "proxy-size": "proxy_size",
    "trained-proxies": "trained_proxies",
    "finalists": "finalists",
    "short-train": "short_train",
    "preferred": "preferred",
}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analysis", description="Analyses of finished "
                                     "NAS-Bench-201 searches and zero-cost score files.")
    commands = parser.add_subparsers(dest="subcommand", required=True, metavar="SUBCOMMAND")
    for name, module_name in SUBCOMMANDS.items():
        module = import_module(f"{__package__}.{module_name}")
        sub = commands.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
