"""What several commands share: the --model and decoding flags, the recognizer they
ask for, and turning a failed write into a one-line error."""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
from pathlib import Path

from asr.core.errors import ASRError
from asr.decoding.alignment import MIN_CONFIDENCE
from asr.decoding.decoders import BeamSearchDecoder, make_decoder
from asr.decoding.grammar.decoder import DEFAULT_REJECT_THRESHOLD, GrammarDecoder
from asr.decoding.ngram import load_lm
from asr.inference import load
from asr.inference.loading import DEFAULT_LITE_MODEL


def add_model(parser: argparse.ArgumentParser, tflite: bool = True) -> None:
    """``--model``. Where TFLite is accepted, the default is the shipped model's exported file when it is
    there: the same transcripts as its ``.keras`` twin (docs/EXPORT.md), without TensorFlow's start-up."""
    kinds = "a .keras file, a folder holding model.keras" + (" or an exported .tflite file" if tflite else "")
    if tflite and DEFAULT_LITE_MODEL.is_file():
        shipped = os.path.relpath(DEFAULT_LITE_MODEL) if DEFAULT_LITE_MODEL.is_relative_to(Path.cwd()) \
            else str(DEFAULT_LITE_MODEL)
        parser.add_argument("--model", default=shipped, help=f"{kinds} (default: the shipped model, {shipped}; "
                            "its Keras twin: --model saved_models/commands)")
    else:
        parser.add_argument("--model", help=f"{kinds} (default: the shipped model in saved_models/commands)")


def names(text: str) -> list[str]:
    """A comma-separated list argument: ``a,b`` → ``["a", "b"]``."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_decoder(parser: argparse.ArgumentParser) -> None:
    """The decoding flags; their defaults are ``BeamSearchDecoder``'s, shown from its signature."""
    default = {name: p.default for name, p in inspect.signature(BeamSearchDecoder).parameters.items()}
    parser.add_argument("--beam-size", type=int, metavar="N",
                        help="CTC prefix beam search keeping N prefixes (default: greedy decoding; "
                             f"{default['beam_size']} when --lm or --hotwords is given)")
    parser.add_argument("--lm", metavar="PATH", help="word n-gram language model: ARPA (e.g. from `asr lm build`) "
                        "or KenLM binary (needs the kenlm module)")
    parser.add_argument("--alpha", type=float, help=f"language model weight (default: {default['alpha']})")
    parser.add_argument("--beta", type=float, help=f"bonus per word with --lm (default: {default['beta']})")
    parser.add_argument("--hotwords", type=names, default=[], metavar="WORD[,WORD...]",
                        help="words to boost in the beam search")
    parser.add_argument("--hotword-weight", type=float,
                        help=f"bonus per hot word, natural log (default: {default['hotword_weight']})")
    parser.add_argument("--min-confidence", type=float, metavar="P",
                        help="an utterance whose words' mean confidence is below this comes out empty, taken for "
                             f"noise (default: {MIN_CONFIDENCE}; 0 keeps every guess; docs/RESULTS.md, \"Noise\")")
    parser.add_argument("--grammar", metavar="FILE",
                        help="decode only sentences this grammar accepts: JSGF (.jsgf), a phrase list (one "
                             "sentence a line) or a compiled .npz (`asr grammar compile`); docs/GRAMMARS.md")
    parser.add_argument("--reject-threshold", type=float, metavar="NATS",
                        help="with --grammar: answer no match when the sentence costs more than this per letter "
                             f"(-log-probability; default: {DEFAULT_REJECT_THRESHOLD}; a negative value: never reject)")


def recognizer(args: argparse.Namespace):
    """``asr.load`` of ``--model`` with the decoder the decoding flags ask for."""
    grammar = getattr(args, "grammar", None)
    if grammar is not None:
        if args.lm or args.hotwords or args.beam_size is not None:
            raise ASRError("--grammar decodes on its own: leave out --lm, --hotwords and --beam-size")
        loaded = load(args.model)
        threshold = DEFAULT_REJECT_THRESHOLD if args.reject_threshold is None else args.reject_threshold
        loaded.decoder = GrammarDecoder.from_file(grammar, loaded.tokenizer,
                                                  reject_threshold=None if threshold < 0 else threshold)
        return loaded
    if getattr(args, "reject_threshold", None) is not None:
        raise ASRError("--reject-threshold needs --grammar")
    lm = load_lm(args.lm) if args.lm else None  # before the model: a bad LM file fails fast
    loaded = load(args.model)
    if args.min_confidence is not None:
        loaded.min_confidence = args.min_confidence
    # the tokenizer travels inside the model file, so the decoder is made once the model is loaded
    loaded.decoder = make_decoder(loaded.tokenizer, beam_size=args.beam_size, lm=lm, alpha=args.alpha,
                                  beta=args.beta, hotwords=args.hotwords, hotword_weight=args.hotword_weight)
    return loaded


def on_tflite(args: argparse.Namespace) -> bool:
    """Whether ``--model`` names an exported ``.tflite`` file (run without TensorFlow)."""
    return str(getattr(args, "model", None) or "").endswith(".tflite")


def percent(x: float) -> str:
    return f"{100 * x:.2f} %"


@contextlib.contextmanager
def writing(path: Path):
    """Turn an OS error while writing ``path`` into a one-line ``ASRError``."""
    try:
        yield
    except OSError as exc:
        raise ASRError(f"{path}: cannot write ({exc.strerror or exc})") from None
