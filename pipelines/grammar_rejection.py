"""Grammar decoding measured: sentence error against greedy and LM decoding, and the
rejection trade-off (out-of-grammar speech accepted, in-grammar speech rejected).

    python pipelines/grammar_rejection.py \\
        --in-dev data/commands_eval/dev.jsonl --in-test data/commands_eval/test.jsonl \\
        --out-dev data/words_neither/dev.jsonl --out-test data/words_neither/test.jsonl

The grammar is the phrase list of every in-grammar sentence (dev and test): the
application's sentences. The LM row is a bigram of the same sentences, so both
constrained decoders know the same text. The threshold is chosen on dev (the
point where the larger of the two error rates is smallest) and reported on test,
for the cost per letter (the rejection statistic) and for the filler gap per frame.
Writes ``--out`` (JSON) and ``--png`` (the trade-off curve); prints Markdown tables.
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="saved_models/commands")
    for name in ("in-dev", "in-test", "out-dev", "out-test"):
        p.add_argument(f"--{name}", required=True, help="JSONL manifest")
    p.add_argument("--out", default="docs/grammar_rejection.json")
    p.add_argument("--png", default="docs/grammar_rejection.png")
    return p.parse_args()


def scores_of(model, manifest: str):
    """``(references, logits)`` of a manifest's usable lines."""
    from asr.config import DataConfig
    from asr.data.splits import load_split

    split = load_split(manifest, DataConfig(cache_dir=None), model.features, model.tokenizer)
    return split.texts, model.logits(model.backend.split_inputs(split, model.featurize))


def gaps(decoder, references, logits) -> tuple[np.ndarray, np.ndarray]:
    """Per utterance: the rejection statistic (cost per letter), the filler gap per frame, and
    whether the grammar sentence is the reference."""
    found = [decoder.search(x, len(x)) for x in logits]
    return (np.array([f.cost_per_letter for f in found]), np.array([f.gap_per_frame for f in found]),
            np.array([" ".join(f.words) == ref for f, ref in zip(found, references)]))


def trade_off(inside: np.ndarray, outside: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False rejects (in-grammar gaps above) and false accepts (out-of-grammar gaps at or below) per threshold."""
    return (np.array([(inside > t).mean() for t in thresholds]), np.array([(outside <= t).mean() for t in thresholds]))


def plot(curves: dict, chosen: float, png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, (fr, fa) in curves.items():
        ax.plot(100 * fa, 100 * fr, label=name)
    for name, (fr, fa, point) in chosen.items():
        ax.plot(100 * fa, 100 * fr, "o", label=f"{name} at the default threshold")
    ax.set_xlabel("out-of-grammar utterances accepted (%)")
    ax.set_ylabel("in-grammar utterances rejected (%)")
    ax.set_xlim(0, 40)
    ax.set_ylim(0, 40)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("Grammar rejection: cost per letter against a threshold")
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def main() -> int:
    args = parse_args()
    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import asr
    from asr.data.manifest import read_manifest
    from asr.decoding.decoders import make_decoder
    from asr.decoding.grammar.decoder import GrammarDecoder
    from asr.decoding.lm_build import build_lm
    from asr.decoding.ngram import load_lm
    from asr.evaluation.metrics import error_rates

    model = asr.load(args.model)
    sentences = sorted({u.text for m in (args.in_dev, args.in_test) for u in read_manifest(m)[0]})
    with tempfile.TemporaryDirectory() as tmp:
        phrases = Path(tmp) / "phrases.txt"
        phrases.write_text("\n".join(sentences) + "\n")
        grammar = GrammarDecoder.from_file(phrases, model.tokenizer, reject_threshold=None)
        lm = load_lm(build_lm(phrases, Path(tmp) / "phrases.arpa", order=2).path)
    data = {name: scores_of(model, getattr(args, name.replace("-", "_"))) for name in
            ("in-dev", "in-test", "out-dev", "out-test")}
    stats = {name: gaps(grammar, *data[name]) for name in data}
    refs, logits = data["in-test"]
    table = {}
    for label, decoder in (("greedy", make_decoder(model.tokenizer)),
                           ("beam 64 + bigram LM of the sentences", make_decoder(model.tokenizer, lm=lm)),
                           ("grammar (phrase list of the sentences)", grammar)):
        hyps = [decoder(x[None], [len(x)])[0] for x in logits]
        rates = error_rates(refs, hyps)
        table[label] = {"wer": rates["wer"], "sentence_error": float(np.mean([h != r for h, r in zip(hyps, refs)]))}
    thresholds = np.linspace(0, 3, 301)
    dev_fr, dev_fa = trade_off(stats["in-dev"][0], stats["out-dev"][0], thresholds)
    best = int(np.argmin(np.maximum(dev_fr, dev_fa)))
    chosen = float(thresholds[best])
    test_fr, test_fa = trade_off(stats["in-test"][0], stats["out-test"][0], thresholds)
    # the filler comparison, for the record: its own best threshold on dev, applied to test
    gap_fr, gap_fa = trade_off(stats["in-dev"][1], stats["out-dev"][1], thresholds / 10)
    gap_best = int(np.argmin(np.maximum(gap_fr, gap_fa)))
    gap_test = trade_off(stats["in-test"][1], stats["out-test"][1], thresholds[gap_best:gap_best + 1] / 10)
    result = {"sentences": len(sentences), "decoding": table, "threshold": chosen,
              "dev": {"false_reject": float(dev_fr[best]), "false_accept": float(dev_fa[best])},
              "test": {"false_reject": float(test_fr[best]), "false_accept": float(test_fa[best])},
              "filler_gap": {"threshold": float(thresholds[gap_best] / 10),
                             "dev": {"false_reject": float(gap_fr[gap_best]), "false_accept": float(gap_fa[gap_best])},
                             "test": {"false_reject": float(gap_test[0][0]), "false_accept": float(gap_test[1][0])}},
              "utterances": {k: len(v[0]) for k, v in stats.items()}}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    plot({"dev": (dev_fr, dev_fa), "test": (test_fr, test_fa)},
         {"dev": (dev_fr[best], dev_fa[best], chosen), "test": (test_fr[best], test_fa[best], chosen)}, args.png)
    print(f"grammar: {len(sentences)} sentences; in-grammar test {len(refs)} utterances\n")
    print("| decoding | WER | sentence error |\n|---|---|---|")
    for label, row in table.items():
        print(f"| {label} | {row['wer']:.1%} | {row['sentence_error']:.1%} |")
    print(f"\nthreshold {chosen:.2f} nats per letter (chosen on dev)")
    for split in ("dev", "test"):
        print(f"{split}: in-grammar rejected {result[split]['false_reject']:.1%}, "
              f"out-of-grammar accepted {result[split]['false_accept']:.1%}")
    filler = result["filler_gap"]
    test = filler["test"]
    print(f"filler gap per frame instead (threshold {filler['threshold']:.3f}, chosen on dev): test in-grammar "
          f"rejected {test['false_reject']:.1%}, out-of-grammar accepted {test['false_accept']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
