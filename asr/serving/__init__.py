"""``asr serve``: an OpenAI-compatible HTTP API, a WebSocket stream and a browser page over
one loaded model (``asr.serving.app``)."""
