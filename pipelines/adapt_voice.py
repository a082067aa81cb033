"""Adaptation, measured: a voice the model never heard, its WER before and after
fine-tuning on a few of its utterances (configs/adapt.yaml), on other utterances of it.

    python pipelines/adapt_voice.py                      # Piper's joe, the shipped commands model
    python pipelines/adapt_voice.py --engine pico --adapt 50 --also data/commands/test.jsonl

Steps: synthesise ``--adapt + --dev + --test`` commands sentences in the voice
(one engine, no held-out split: every utterance is that voice) → split them
(adapt / dev for early stopping / test; test sentences said in the adapt part
are dropped, so the figure is the voice's, not memorised sentences) → score the
source model → ``asr train --config configs/adapt.yaml --init-from MODEL`` →
score the adapted model. ``--also`` scores both on other manifests too (what
adapting costs elsewhere). Prints a Markdown table and writes ``adapt_results.json`` in the run.
"""

import argparse
import json
import sys
from pathlib import Path


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--engine", default="piper", help="the unheard voice's engine (all its voices are used)")
    p.add_argument("--model", default="saved_models/commands", help="the model to adapt")
    p.add_argument("--config", default="configs/adapt.yaml")
    p.add_argument("--adapt", type=int, default=50, help="utterances to adapt on")
    p.add_argument("--dev", type=int, default=25, help="utterances for early stopping")
    p.add_argument("--test", type=int, default=150, help="utterances to score on (before dropping repeats)")
    p.add_argument("--out", default="data/adapt_voice", help="corpus folder; the run goes to <out>/run")
    p.add_argument("--run-dir", help="the adapted run (default: <out>/run)")
    p.add_argument("--also", nargs="*", default=[], help="other manifests to score both models on")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    return p.parse_args()


def split_voice(manifest: Path, out: Path, n_adapt: int, n_dev: int) -> dict[str, Path]:
    """Cut one voice's manifest into adapt/dev/test manifests in ``out``."""
    from asr.data.manifest import read_manifest, write_manifest

    rows = [{"audio_filepath": u.audio_filepath, "duration": u.duration, "text": u.text, **u.extra}
            for u in read_manifest(manifest)[0]]
    adapt, dev, test = rows[:n_adapt], rows[n_adapt:n_adapt + n_dev], rows[n_adapt + n_dev:]
    heard = {row["text"] for row in adapt}
    test = [row for row in test if row["text"] not in heard]
    return {name: write_manifest(out / f"{name}.jsonl", part)
            for name, part in (("adapt", adapt), ("dev", dev), ("test", test))}


def main() -> int:
    args = parse_args()
    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import asr
    from asr.config import load_config
    from asr.core.errors import ASRError
    from asr.data.synth.corpus import corpus_is_current, make_corpus
    from asr.evaluation.evaluate import evaluate
    from asr.training.trainer import train

    out = Path(args.out)
    try:
        voice = dict(grammar="commands", n_train=args.adapt + args.dev + args.test, n_dev=0, n_test=0,
                     engines=[args.engine], seed=7, holdout="voice")
        if not corpus_is_current(out / "voice", **voice):  # made once, reused by later runs
            make_corpus(out / "voice", **voice)
        parts = split_voice(out / "voice" / "train.jsonl", out, args.adapt, args.dev)
        run_dir = Path(args.run_dir or out / "run")
        cfg = load_config(args.config, [f"train.init_from={args.model}", f"run_dir={run_dir}",
                                        f"data.train_manifest={parts['adapt']}", f"data.dev_manifest={parts['dev']}",
                                        f"data.test_manifest={parts['test']}", *args.overrides])
        train(cfg)
        rows = []
        for manifest in [parts["test"], *args.also]:
            scores = {name: evaluate(asr.load(path), manifest, cfg.data)
                      for name, path in (("before", args.model), ("after", run_dir))}
            rows.append({"manifest": str(manifest), **{k: v.to_dict() for k, v in scores.items()}})
    except ASRError as exc:
        print(f"adapt_voice: error: {exc}", file=sys.stderr)
        return 1
    (run_dir / "adapt_results.json").write_text(json.dumps(rows, indent=2) + "\n")
    print("| manifest | utterances | WER before | WER after | CER before | CER after |\n|---|---|---|---|---|---|")
    for r in rows:
        b, a = r["before"], r["after"]
        print(f"| `{r['manifest']}` | {b['utterances']} | {b['wer']:.1%} | {a['wer']:.1%} | "
              f"{b['cer']:.1%} | {a['cer']:.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
