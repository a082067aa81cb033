"""Export a trained model to a TF Serving SavedModel and builtins-only TFLite; the same as `asr export`.

    python pipelines/export.py --model saved_models/commands --out exported \
        [--formats saved_model,tflite] [--quantize none,float16,dynamic,int8] \
        [--calibration-manifest data/commands/train.jsonl]
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
