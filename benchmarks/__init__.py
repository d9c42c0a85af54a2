"""Reproduction and measurement scripts, run from the repository root as modules:

    python -m benchmarks.<script> [args]          # nb201, nb201_tabular, zero_cost, nb201_ranking,
                                                  # proxy_vs_random, throughput, faults
    python -m benchmarks.analysis <subcommand>    # analyses of finished runs and score files

benchmarks/README.md says what each one needs and prints.
"""
