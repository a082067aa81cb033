"""Greedy vs CTC beam search vs beam search + word LM on one manifest: WER, CER,
decoding time and real-time factor, one JSON line per decoder.

    # the LM from the training text only
    asr lm build data/commands/train.jsonl --order 3 --out runs/lm/commands.arpa
    # fixed settings
    python pipelines/compare_decoders.py --model saved_models/commands --manifest data/commands/test.jsonl \\
        --lm runs/lm/commands.arpa --beam-size 64 --alpha 0.8 --beta 4
    # or tune on dev first (comma lists make a grid; the best dev WER, then CER, wins),
    # then report the test manifest at the chosen values
    python pipelines/compare_decoders.py --model saved_models/commands --lm runs/lm/commands.arpa \\
        --tune-manifest data/commands/dev.jsonl --manifest data/commands/test.jsonl \\
        --beam-size 8,16,32 --alpha 0.3,0.5,0.8,1.2 --beta 0,1,2,3,4

docs/DECODING.md has the figures and the exact commands that made them. Dev
lines carry ``"tuning": true``. Decoding time is the decoder alone (logits →
text, ``decode_ms_per_utterance``); ``rtf`` is features + model + decoding per
audio second. Test features are computed afresh for every decoder; the dev grid
shares a temporary feature cache.
"""

import argparse
import itertools
import json
import sys
import tempfile

import numpy as np


def _numbers(kind):
    def parse(text: str) -> list:
        return [kind(item) for item in text.split(",") if item.strip()]
    return parse


def run(recognizer, manifest, lm, beam_size, alpha, beta, data_cfg=None, tuning=False) -> dict:
    """Evaluate ``recognizer`` on ``manifest`` with one decoder; one result row."""
    from asr.decoding.decoders import make_decoder
    from asr.evaluation.evaluate import evaluate

    name = "greedy" if beam_size is None else ("beam" if lm is None else "beam+lm")
    recognizer.decoder = make_decoder(recognizer.tokenizer, beam_size=beam_size, lm=lm,
                                      alpha=alpha if lm is not None else None, beta=beta if lm is not None else None)
    result = evaluate(recognizer, manifest, data_cfg, worst=0)
    return {"manifest": str(manifest), "decoder": name, "beam_size": beam_size,
            "alpha": getattr(recognizer.decoder, "alpha", None) if lm is not None else None,
            "beta": getattr(recognizer.decoder, "beta", None) if lm is not None else None,
            **{k: getattr(result, k) for k in ("wer", "cer", "decode_ms_per_utterance", "rtf", "utterances",
                                      "audio_seconds")},
            "tuning": tuning}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model path (default: the shipped model)")
    parser.add_argument("--manifest", required=True, help="the manifest to report (test)")
    parser.add_argument("--lm", help="ARPA (or KenLM binary) word LM for the beam+lm decoder")
    parser.add_argument("--beam-size", type=_numbers(int), required=True, help="beam size(s), comma-separated")
    parser.add_argument("--alpha", type=_numbers(float), default=[None],
                        help="LM weight(s), comma-separated (default: the decoder's)")
    parser.add_argument("--beta", type=_numbers(float), default=[None],
                        help="word bonus(es), comma-separated (default: the decoder's)")
    parser.add_argument("--tune-manifest", help="pick beam size, alpha and beta on this manifest (dev) first")
    args = parser.parse_args(argv)

    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # TensorFlow's C++ start-up lines off the terminal, as in `asr`
    import asr
    from asr.config import DataConfig
    from asr.decoding.ngram import load_lm

    recognizer = asr.load(args.model)
    lm = load_lm(args.lm) if args.lm else None
    # trace the model graph once before anything is timed
    noise = np.random.default_rng(0).normal(0, 0.1, recognizer.sample_rate).astype(np.float32)
    recognizer.logits([recognizer.featurize(noise)])

    beam, alpha, beta = args.beam_size[0], args.alpha[0], args.beta[0]
    if args.tune_manifest:
        with tempfile.TemporaryDirectory() as cache:
            data_cfg = DataConfig(cache_dir=cache)
            rows = []
            for b, a, c in itertools.product(args.beam_size, args.alpha, args.beta):
                rows.append(run(recognizer, args.tune_manifest, lm, b, a, c, data_cfg, tuning=True))
                print(json.dumps(rows[-1]), flush=True)
        best = min(rows, key=lambda r: (r["wer"], r["cer"]))
        beam, alpha, beta = best["beam_size"], best["alpha"], best["beta"]
    elif max(len(args.beam_size), len(args.alpha), len(args.beta)) > 1:
        parser.error("lists of values make a grid: give --tune-manifest to choose among them")

    for b, with_lm in [(None, None), (beam, None)] + ([(beam, lm)] if lm is not None else []):
        print(json.dumps(run(recognizer, args.manifest, with_lm, b, alpha, beta)), flush=True)
    return 0


if __name__ == "__main__":  # spawned feature workers re-import this file
    sys.exit(main())
