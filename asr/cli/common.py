"""What several commands share: the --model and decoding flags, the recognizer they
ask for, and turning a failed write into a one-line error."""

from __future__ import annotations

import argparse
import contextlib
import inspect
from pathlib import Path

from asr.core.errors import ASRError
from asr.decoding.decoders import BeamSearchDecoder, make_decoder
from asr.decoding.ngram import load_lm
from asr.inference import load


def add_model(parser: argparse.ArgumentParser, tflite: bool = True) -> None:
    kinds = "a .keras file, a folder holding model.keras" + (" or an exported .tflite file" if tflite else "")
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


def recognizer(args: argparse.Namespace):
    """``asr.load`` of ``--model`` with the decoder the decoding flags ask for."""
    lm = load_lm(args.lm) if args.lm else None  # before the model: a bad LM file fails fast
    loaded = load(args.model)
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
