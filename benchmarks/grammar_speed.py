"""Grammar decoding speed and size: phrase lists of 10, 1,000 and 100,000 commands
sentences, and a recursive JSGF grammar, against the shipped model's real output.

    python benchmarks/grammar_speed.py [--out benchmarks/grammar_speed.json]

For each grammar: compile time, label states and transitions (the automaton's
size: memory), and the search time per utterance over the model's scores of 20
held-out-voice commands utterances (data/commands_eval/test.jsonl, made by
``asr synth --config configs/commands.yaml --n-train 0 --out data/commands_eval``),
one thread, median of the utterances. The phrase lists hold the utterances' own
sentences, so each search has its answer in the grammar.
"""

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

REPEAT_GRAMMAR = """#JSGF V1.0;
grammar digits;
public <code> = [the code is] <digit>+ [please];
<digit> = zero | oh | one | two | three | four | five | six | seven | eight | nine;
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--manifest", default="data/commands_eval/test.jsonl")
    p.add_argument("--utterances", type=int, default=20)
    p.add_argument("--out", default="benchmarks/grammar_speed.json")
    args = p.parse_args()
    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import asr
    from asr.config import DataConfig
    from asr.data.splits import load_split
    from asr.data.synth.grammars import generate_sentences
    from asr.decoding.grammar.automaton import compile_expr
    from asr.decoding.grammar.search import search
    from asr.grammar.jsgf import inline, parse_jsgf, phrase_list

    model = asr.load("saved_models/commands")
    split = load_split(args.manifest, DataConfig(cache_dir=None), model.features, model.tokenizer)
    texts = split.texts[: args.utterances]
    logits = model.logits(model.backend.split_inputs(split, model.featurize))[: args.utterances]
    pool = list(dict.fromkeys(texts + generate_sentences("commands", 150_000, seed=99)))
    grammars = {f"phrase list, {n:,} sentences": lambda n=n: phrase_list(texts + pool[len(texts):n])
                for n in (10, 1_000, 100_000)}
    grammars["JSGF with a repeat (digit codes of any length)"] = lambda: inline(parse_jsgf(REPEAT_GRAMMAR))
    rows = []
    for name, make in grammars.items():
        start = time.perf_counter()
        g = compile_expr(make(), model.tokenizer)
        compile_s = time.perf_counter() - start
        times = []
        for x in logits:
            start = time.perf_counter()
            search(g, x, len(x), model.tokenizer.blank_id)
            times.append(1000 * (time.perf_counter() - start))
        rows.append({"grammar": name, "compile_s": round(compile_s, 2), "label_states": g.size,
                     "transitions": int(len(g.succ_to)), "search_ms_median": round(statistics.median(times), 1),
                     "search_ms_max": round(max(times), 1)})
        print(rows[-1], flush=True)
    frames = [len(x) for x in logits]
    Path(args.out).write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                                          "utterances": len(logits), "frames_median": statistics.median(frames),
                                          "rows": rows}, indent=2) + "\n")
    print("| grammar | compile | label states | transitions | search per utterance (median / max) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['grammar']} | {r['compile_s']} s | {r['label_states']:,} | {r['transitions']:,} | "
              f"{r['search_ms_median']} / {r['search_ms_max']} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
