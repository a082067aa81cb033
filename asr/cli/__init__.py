"""The ``asr`` command: each subcommand parses its arguments and calls one library function."""
