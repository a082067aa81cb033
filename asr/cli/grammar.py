"""``asr grammar``: check a grammar by sampling it, and compile it for a device."""

from __future__ import annotations

import argparse

from asr.cli.common import add_model, on_tflite


def add_parser(commands) -> None:
    p = commands.add_parser("grammar", help="sample a JSGF grammar or phrase list, or compile it for a device")
    sub = p.add_subparsers(dest="grammar_command", required=True, metavar="GRAMMAR_COMMAND",
                           help="sample | compile")
    s = sub.add_parser("sample", help="print sentences covering every alternative (what asr synth would say)")
    s.add_argument("grammar", metavar="FILE", help="JSGF (.jsgf) or a phrase list")
    s.add_argument("-n", type=int, default=20, help="how many sentences (default: 20)")
    s.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: %(default)s)")
    c = sub.add_parser("compile", help="compile for a model's alphabet into one .npz file "
                                       "(asr transcribe --grammar, examples/edge/transcribe.py --grammar)")
    c.add_argument("grammar", metavar="FILE", help="JSGF (.jsgf) or a phrase list")
    add_model(c)
    c.add_argument("--out", required=True, help="the compiled grammar to write, e.g. lights.npz")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return args.grammar_command == "compile" and not on_tflite(args)


def run(args: argparse.Namespace) -> int:
    # here, as in every command: `asr --help` stays light
    from asr.decoding.grammar.automaton import compile_expr, save
    from asr.grammar.jsgf import read_grammar
    from asr.grammar.sample import sample_sentences
    from asr.inference import load

    expr = read_grammar(args.grammar)
    if args.grammar_command == "sample":
        print("\n".join(sample_sentences(expr, args.n, args.seed)))
        return 0
    compiled = compile_expr(expr, load(args.model).tokenizer)
    save(compiled, args.out)
    print(f"{args.out}: {compiled.size} label states, {len(compiled.succ_to)} transitions")
    return 0
