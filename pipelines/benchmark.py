"""Benchmark training throughput, batch-1 speed, GFLOP/s and feature extraction; the same as `asr bench`.

    python pipelines/benchmark.py [--model saved_models/commands] [--config configs/commands.yaml] \
        [--repeats 7] [--quick] [--out benchmarks]

Writes benchmarks/results.json and benchmarks/RESULTS.md.
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
