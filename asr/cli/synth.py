"""``asr synth``: a synthetic corpus from a grammar or a text file."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from asr.config import AcousticsConfig, CorpusConfig, choices_of, load_config


def add_parser(commands) -> None:
    p = commands.add_parser("synth", help="synthesise a corpus with espeak-ng, flite (and mbrola, pico, piper)")
    p.add_argument("--config", help="take the corpus section of this YAML recipe")
    p.add_argument("--grammar", help="built-in grammar: digits | commands, or a JSGF file (.jsgf): sentences covering "
                   "every alternative (docs/GRAMMARS.md)")
    p.add_argument("--text-file", help="UTF-8 sentences, one a line, instead of a grammar")
    p.add_argument("--out", dest="out_dir", help="output folder (without --config: data/<name of the text or "
                   "grammar file>; required with a built-in grammar)")
    defaults = CorpusConfig()  # the config dataclass owns the defaults; the help only quotes them
    p.add_argument("--n-train", type=int, help=f"training utterances (default: {defaults.n_train})")
    p.add_argument("--n-dev", type=int, help=f"dev utterances (default: {defaults.n_dev})")
    p.add_argument("--n-test", type=int, help=f"test utterances (default: {defaults.n_test})")
    p.add_argument("--seed", type=int, help=f"seed of the sentences, voices and acoustics (default: {defaults.seed})")
    p.add_argument("--engines", nargs="+", help="any of espeak-ng, flite, mbrola, pico, piper "
                   "(the last three: scripts/install_voices.sh); without --config: every installed one")
    p.add_argument("--random-voices", type=int, help="extra random espeak-ng speakers for training")
    p.add_argument("--train-flite-share", type=float, help="share of the training utterances said by flite (0-1)")
    p.add_argument("--sentence-holdout", type=float, metavar="SHARE",
                   help="with --text-file: share of the distinct sentences kept out of training for half of dev "
                        f"and test (default: {CorpusConfig.AUTO_SENTENCE_HOLDOUT:g} once the file has "
                        f"{CorpusConfig.SENTENCE_HOLDOUT_MIN_LINES} or more, else 0)")
    p.add_argument("--holdout", choices=choices_of(CorpusConfig, "holdout"),
                   help="voice: unseen voices in dev/test; engine: test on one engine alone (--held-out-engine)")
    p.add_argument("--held-out-engine", choices=choices_of(CorpusConfig, "held_out_engine"),
                   help="with --holdout engine: the engine test is made of, unheard in train and dev (default: flite)")
    p.add_argument("--clean", action="store_true",
                   help="no realistic acoustics: without --config, --grammar and --text-file corpora get rooms, "
                        "noise and channels (docs/AUGMENTATION.md) unless this is given")
    p.add_argument("--list-voices", action="store_true",
                   help="print every known voice (of --engines, default all), its engine and whether it "
                        "is available (and why not), then exit")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return False


def list_voices(engines: list[str] | None) -> int:
    """Print one line per known voice: engine, voice id, "available" or "unavailable: why"."""
    from asr.data.synth.engines import ALL_ENGINES  # here, as in every command: `asr --help` stays light
    from asr.data.synth.voices import voice_catalogue

    for voice, problem in voice_catalogue(engines or ALL_ENGINES):
        print(f"{voice.engine:<10} {voice.id:<36} {'available' if problem is None else 'unavailable: ' + problem}")
    return 0


def run(args: argparse.Namespace) -> int:
    from asr.data.synth.corpus import make_corpus  # here, as in every command: `asr --help` stays light
    from asr.data.synth.presets import best_corpus

    if getattr(args, "list_voices", False):
        return list_voices(args.engines)

    # each corpus field has a flag of the same name; given flags override the config
    names = [f.name for f in dataclasses.fields(CorpusConfig)]
    overrides = [f"corpus.{n}={json.dumps(getattr(args, n))}" for n in names if getattr(args, n, None) is not None]
    if args.text_file is not None and args.grammar is None:
        overrides.append("corpus.grammar=null")
    corpus = load_config(args.config, overrides).corpus
    if args.config is None:  # no recipe: a phrase file or grammar gets every voice and realistic acoustics
        corpus = best_corpus(corpus, engines_given=args.engines is not None, out_given=args.out_dir is not None,
                             share_given=args.train_flite_share is not None, clean=args.clean)
    elif args.clean:
        corpus = dataclasses.replace(corpus, acoustics=AcousticsConfig())
    manifests = make_corpus(**vars(corpus))
    for split, path in manifests.items():
        print(f"{split}: {path}")
    print(corpus_summary(Path(corpus.out_dir) / "corpus.json"), file=sys.stderr)
    return 0


def corpus_summary(record: Path) -> str:
    """One line from a corpus's ``corpus.json``: the engines, the utterances per split and,
    for a text file, the sentences kept out of training."""
    info = json.loads(record.read_text(encoding="utf-8"))
    counts = ", ".join(f"{n} {split}" for split, n in info["counts"].items())
    line = f"synth: {counts} utterances from {', '.join(info['engines'])}"
    held = info.get("sentence_holdout") or {}
    if held.get("held_out"):
        line += (f"; {held['held_out']} of {held['held_out'] + held['training']} sentences never said in training "
                 "(half of dev and test says them: asr evaluate reports seen and unseen apart)")
    if any(name.endswith("_realistic") for name in info.get("manifests", {})):
        line += "; dev and test also as realistic copies (rooms, noise, channels)"
    return line
