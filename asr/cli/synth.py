"""``asr synth``: a synthetic corpus from a grammar or a text file."""

from __future__ import annotations

import argparse
import dataclasses
import json

from asr.config import CorpusConfig, choices_of, load_config


def add_parser(commands) -> None:
    p = commands.add_parser("synth", help="synthesise a corpus with espeak-ng and flite")
    p.add_argument("--config", help="take the corpus section of this YAML recipe")
    p.add_argument("--grammar", help="built-in grammar: digits | commands")
    p.add_argument("--text-file", help="UTF-8 sentences, one a line, instead of a grammar")
    p.add_argument("--out", dest="out_dir", help="output folder")
    p.add_argument("--n-train", type=int)
    p.add_argument("--n-dev", type=int)
    p.add_argument("--n-test", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--engines", nargs="+", help="espeak-ng and/or flite")
    p.add_argument("--random-voices", type=int, help="extra random espeak-ng speakers for training")
    p.add_argument("--train-flite-share", type=float, help="share of the training utterances said by flite (0-1)")
    p.add_argument("--holdout", choices=choices_of(CorpusConfig, "holdout"),
                   help="voice: unseen voices in dev/test; engine: test on flite only")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False


def run(args: argparse.Namespace) -> int:
    from asr.data.synth.corpus import make_corpus  # here, as in every command: `asr --help` stays light

    # each corpus field has a flag of the same name; given flags override the config
    names = [f.name for f in dataclasses.fields(CorpusConfig)]
    overrides = [f"corpus.{n}={json.dumps(getattr(args, n))}" for n in names if getattr(args, n) is not None]
    if args.text_file is not None and args.grammar is None:
        overrides.append("corpus.grammar=null")
    corpus = load_config(args.config, overrides).corpus
    manifests = make_corpus(**vars(corpus))
    for split, path in manifests.items():
        print(f"{split}: {path}")
    return 0
