"""The main job: synthesise a recipe's corpus → train → evaluate on the test
split → transcribe a sample. Re-running picks up where it stopped (a corpus made
with the same settings is reused, a finished or interrupted run is resumed).

    python pipelines/run_recipe.py --config configs/commands.yaml
"""

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/commands.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    start = time.perf_counter()

    # Heavy imports here, not at the top: feature workers are spawned and re-import this file.
    from asr.core.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import asr
    from asr.config import load_config
    from asr.core.errors import ASRError
    from asr.data.manifest import read_manifest
    from asr.data.synth.corpus import corpus_is_current, make_corpus
    from asr.training.checkpoints import CheckpointStore
    from asr.training.trainer import train

    try:
        cfg = load_config(args.config, args.overrides)
        if not corpus_is_current(**vars(cfg.corpus)):  # made anew when the corpus settings changed
            make_corpus(**vars(cfg.corpus))
        run_dir = Path(cfg.resolved_run_dir)
        metrics = train(cfg, resume=bool(CheckpointStore(run_dir / "checkpoints").epochs()))
        result = metrics.test  # train() evaluates the best model on the test split
        print(json.dumps(dataclasses.asdict(result)))
        print(f"test WER {result.wer:.2%}  CER {result.cer:.2%}  "
              f"({result.utterances} utterances, voices unseen in training)")
        for name, rates in result.by_sentence.items():  # a text-file corpus's sentence holdout
            print(f"  {name} sentences: WER {rates['wer']:.2%}  CER {rates['cer']:.2%}  "
                  f"({rates['utterances']} utterances)")
        sample = read_manifest(cfg.manifest("test"))[0][0]
        print(f"sample {sample.audio_filepath}\n  reference:  {sample.text}\n"
              f"  transcript: {asr.load(run_dir).transcribe(sample.audio_filepath)}")
        minutes, seconds = divmod(round(time.perf_counter() - start), 60)
        print(f"main job: {minutes} min {seconds} s (corpus, training {metrics.train_seconds_this_session:.0f} s, "
              "test evaluation, sample)")
    except ASRError as exc:
        print(f"asr: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
