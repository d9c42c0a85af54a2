"""Analyses of finished NAS-Bench-201 searches and zero-cost score files, one subcommand each.

    python -m benchmarks.analysis <subcommand> [args]     # --help lists them; <subcommand> --help its arguments

None trains a search; each reads run folders (``derive_candidates.csv``, ``config.yaml``, ``policy.jsonl``,
``checkpoints/``) and/or score files of ``benchmarks.zero_cost`` and looks cells up in the NAS-Bench-201
table. Their shared helpers are in `benchmarks._common`.
"""
