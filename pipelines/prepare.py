"""Import a corpus into JSONL manifests; the same as `asr prepare`.

    python pipelines/prepare.py librispeech LibriSpeech/dev-clean --out data/librispeech
    python pipelines/prepare.py commonvoice cv-corpus/en --out data/cv --split validated
"""

import sys

from asr.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["prepare", *sys.argv[1:]]))
