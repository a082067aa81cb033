"""Does training memory grow with the corpus? Peak RSS and step time at 5,000 and 50,000 utterances.

    python benchmarks/input_pipeline.py --source data/commands_6k/train.jsonl \
        --sizes 5000 50000 --steps 60 > benchmarks/input_pipeline.json

For each size, a manifest of that many utterances is made from the source's
audio by hard links under distinct names (``--work``), so every line is a
separate file with its own feature-cache entry, as in a real corpus of that
size. A fresh process then builds the default recipe's model and trains it for
``--steps`` optimizer steps through ``asr.data.batching.training_dataset`` (streamed from
the cache, augmentation on), and reports:

* ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``);
* ``index_rss_mb``: resident memory once the split's index is loaded;
* ``step_ms``: median and quartiles of the wall time per step after the first
  10 (tracing and warm-up left out);
* with ``--in-memory``, also the peak memory of loading the same split the old
  way, every utterance's features held in memory (no training).

The features are computed once per size before the measured process runs.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def make_manifest(source: Path, size: int, work: Path) -> Path:
    """``size`` manifest lines over hard links of ``source``'s audio, cycling through it."""
    from asr.data.manifest import read_manifest, write_manifest

    utterances, _ = read_manifest(source)
    folder = work / f"n{size}"
    (folder / "wavs").mkdir(parents=True, exist_ok=True)
    entries = []
    for k in range(size):
        utt = utterances[k % len(utterances)]
        link = folder / "wavs" / f"u{k:06d}.wav"
        if not link.exists():
            os.link(utt.audio_filepath, link)
        entries.append({"audio_filepath": str(link.resolve()), "duration": utt.duration, "text": utt.text})
    return write_manifest(folder / "train.jsonl", entries)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(manifest: str, steps: int, in_memory: bool) -> dict:
    """In this (fresh) process: load the split and train ``steps`` steps, or load it into memory."""
    import keras

    from asr.config import load_config
    from asr.data.batching import training_dataset
    from asr.data.splits import load_split
    from asr.model.ctc import build_model
    from asr.text import Tokenizer
    from asr.training.trainer import _optimizer

    cfg = load_config("configs/commands.yaml")
    tokenizer = Tokenizer()
    split = load_split(manifest, cfg.data, cfg.features, tokenizer, cfg.model.time_reduction,
                       log=lambda m: None, stream=not in_memory)
    result = {"utterances": len(split), "index_rss_mb": round(rss_mb(), 1)}
    if in_memory:
        result["peak_rss_mb"] = round(peak_mb(), 1)
        return result
    keras.utils.set_random_seed(0)
    dataset = training_dataset(split, cfg.train.batch_size, 0, cfg.features, cfg.train.augment,
                               cfg.model.time_reduction)
    model = build_model(cfg.model, cfg.features, tokenizer)
    model.compile(optimizer=_optimizer(cfg, int(dataset.cardinality())))
    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    model.fit(dataset.take(steps), epochs=1, verbose=0, callbacks=[Clock()])
    steady = sorted(times[10:]) or sorted(times)
    q = statistics.quantiles(steady, n=4) if len(steady) > 1 else steady * 3
    result.update(steps=len(times), step_ms={"median": round(1000 * statistics.median(steady), 1),
                                             "q1": round(1000 * q[0], 1), "q3": round(1000 * q[2], 1)},
                  peak_rss_mb=round(peak_mb(), 1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="data/commands_6k/train.jsonl")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--work", default="data/scale")
    parser.add_argument("--in-memory", action="store_true", help="also measure loading the split into memory")
    parser.add_argument("--child", nargs=2, metavar=("MANIFEST", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.steps, args.child[1] == "memory")))
        return
    from asr.config import load_config
    from asr.data.splits import load_split
    from asr.text import Tokenizer

    cfg = load_config("configs/commands.yaml")
    report: dict = {"cpu": os.cpu_count(), "steps": args.steps, "sizes": {}}
    for size in args.sizes:
        manifest = make_manifest(Path(args.source), size, Path(args.work))
        start = time.perf_counter()  # fills the cache; not part of the measurement
        load_split(manifest, cfg.data, cfg.features, Tokenizer(), log=lambda m: None, stream=True)
        row = {"cache_fill_s": round(time.perf_counter() - start, 1)}
        modes = ["stream"] + (["memory"] if args.in_memory else [])
        for mode in modes:
            out = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", str(manifest), mode],
                                 capture_output=True, text=True, check=True)
            row[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        report["sizes"][str(size)] = row
        print(json.dumps({size: row}), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
