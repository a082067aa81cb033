import sys

from asr.cli.main import main

sys.exit(main())
