"""Training throughput of one recipe's model on each Keras backend (docs/BACKENDS.md).

Each backend runs in its own process (Keras picks its backend once, at import):
the recipe's model, compiled as ``asr train`` compiles it (Adam, warm-up/cosine
schedule, clipnorm), takes ``--steps`` optimizer steps on synthetic batches of one
fixed shape (``--batch`` utterances of ``--seconds`` seconds, labels a quarter of
the output frames), after ``--warmup`` untimed steps (tracing, compiling).
Fixed shapes leave out what JAX pays to compile each new padded length, which
``docs/BACKENDS.md`` reports separately. The figure is audio seconds trained per
wall-clock second.

    python benchmarks/backend_training.py --config configs/commands.yaml --out benchmarks/backend_training.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BACKENDS = ("tensorflow", "torch", "jax")


def measure(config: str, batch: int, seconds: float, steps: int, warmup: int) -> dict:
    """In this process, on its Keras backend: ``{"backend", "audio_s_per_s", "step_ms"}``."""
    import keras
    import numpy as np

    from asr.config import load_config
    from asr.model.ctc import build_model
    from asr.text import Tokenizer
    from asr.training.trainer import _optimizer

    cfg = load_config(config, [])
    tokenizer = Tokenizer(repeat_token=cfg.tokenizer.repeat_token)
    keras.utils.set_random_seed(0)
    model = build_model(cfg.model, cfg.features, tokenizer)
    model.compile(optimizer=_optimizer(cfg, steps + warmup))
    frames = int(seconds * cfg.features.sample_rate / cfg.features.hop_length)
    labels = frames // cfg.model.time_reduction // 4
    rng = np.random.default_rng(0)
    x = {"features": rng.standard_normal((batch, frames, cfg.features.n_mels)).astype("float32"),
         "feature_lengths": np.full((batch,), frames, "int32")}
    y = {"labels": rng.integers(1, tokenizer.vocab_size, (batch, labels)).astype("int32"),
         "label_lengths": np.full((batch,), labels, "int32")}
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    elapsed = time.perf_counter() - start
    assert np.isfinite(float(np.asarray(loss))), loss
    return {"backend": keras.backend.backend(), "audio_s_per_s": round(batch * seconds * steps / elapsed, 1),
            "step_ms": round(1000 * elapsed / steps, 1), "parameters": int(model.count_params())}


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    """``measure`` in a fresh process on ``backend``; a failure becomes a row with its reason."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); from backend_training import measure; "
            f"print(json.dumps(measure({args.config!r}, {args.batch}, {args.seconds}, {args.steps}, {args.warmup})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=env["PYTHONPATH"], timeout=3600)
    if proc.returncode != 0:
        return {"backend": backend, "error": (proc.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def versions() -> dict:
    import importlib.metadata as md

    found = {}
    for name in ("keras", "tensorflow", "torch", "jax"):
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/commands.yaml")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=2.5, help="seconds of audio per utterance")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rows = [run_backend(backend, args) for backend in args.backends]
    result = {"config": args.config, "batch": args.batch, "seconds": args.seconds, "steps": args.steps,
              "machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "versions": versions(), "rows": rows}
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
