"""``asr serve``: one model behind an OpenAI-compatible API, a WebSocket stream and a page."""

from __future__ import annotations

import argparse
import os

from asr.cli.common import add_decoder, add_model, on_tflite, recognizer
from asr.serving.options import ServeOptions

DEFAULTS = ServeOptions()

API_KEY_ENV = "ASR_API_KEY"


def add_parser(commands) -> None:
    p = commands.add_parser("serve", help="HTTP server: OpenAI-compatible /v1/audio/transcriptions, a WebSocket "
                                          "stream and a page that listens in the browser")
    add_model(p)
    add_decoder(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument("--api-key", help=f"require 'Authorization: Bearer KEY' (default: ${API_KEY_ENV} if set, "
                                     "else no key)")
    p.add_argument("--queue-size", type=int, default=DEFAULTS.queue_size,
                   help=f"requests running or waiting at once; the next gets 429 (default: {DEFAULTS.queue_size})")
    p.add_argument("--max-upload-mb", type=float, default=DEFAULTS.max_upload_bytes / 2 ** 20,
                   help=f"larger uploads get 413 (default: {DEFAULTS.max_upload_bytes / 2 ** 20:g})")
    p.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                   help="a Keras model's forward passes are shared by the requests running at once, up to this "
                        f"many inputs; 1: no batching; a TFLite model runs one at a time (default: {DEFAULTS.max_batch})")
    p.add_argument("--batch-wait-ms", type=float, default=1000 * DEFAULTS.batch_wait,
                   help="how long a request waits for others to share its pass, milliseconds "
                        f"(default: {1000 * DEFAULTS.batch_wait:g})")


def needs_tensorflow(args: argparse.Namespace) -> bool:
    return not on_tflite(args)


def run(args: argparse.Namespace) -> int:
    # here, as in every command: `asr --help` stays light, and only the server needs these
    import uvicorn

    from asr.serving.app import create_app

    options = ServeOptions(api_key=args.api_key or os.environ.get(API_KEY_ENV) or None,
                           queue_size=max(1, args.queue_size), max_upload_bytes=int(args.max_upload_mb * 2 ** 20),
                           model_name=str(args.model or "saved_models/commands"),
                           max_batch=max(1, args.max_batch), batch_wait=max(0.0, args.batch_wait_ms / 1000))
    app = create_app(recognizer(args), options)
    # graceful shutdown: on Ctrl-C or SIGTERM uvicorn stops accepting and finishes requests in flight
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", timeout_graceful_shutdown=30,
                timeout_keep_alive=5)
    return 0
