"""The main job: synthesise a recipe's corpus → train → evaluate on the test
split → transcribe a sample. Re-running picks up where it stopped (an existing
corpus is reused, a finished or interrupted run is resumed).

    python pipelines/run_recipe.py --config configs/commands.yaml
"""

import argparse
import json
import logging
from pathlib import Path

import asr
from asr.config import load_config
from asr.data import read_manifest
from asr.evaluation import evaluate
from asr.synth import make_corpus
from asr.training import train

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--config", default="configs/commands.yaml")
parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
args = parser.parse_args()
logging.basicConfig(level=logging.INFO, format="%(message)s")
cfg = load_config(args.config, args.overrides)

if not Path(cfg.corpus.out_dir, "corpus.json").is_file():
    make_corpus(**vars(cfg.corpus))
run_dir = Path(cfg.resolved_run_dir)
train(cfg, resume=(run_dir / "checkpoints" / "state.json").is_file())

model = asr.load(run_dir)
result = evaluate(model, cfg.manifest("test"), cfg.data)
print(json.dumps({k: result[k] for k in ("wer", "cer", "rtf", "utterances")}))
print(f"test WER {result['wer']:.2%}  CER {result['cer']:.2%}  ({result['utterances']} utterances, unseen voices)")
sample = read_manifest(cfg.manifest("test"))[0][0]
print(f"sample: {sample.audio_filepath}\n  reference:  {sample.text}\n  transcript: {model.transcribe(sample.audio_filepath)}")
