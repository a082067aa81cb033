"""The server's settings (``asr serve``'s options read their defaults here): a light
module, so that parsing the command line does not load the web stack."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServeOptions:
    """The server's limits and batching.

    Attributes:
        api_key: required bearer token (None: no authentication).
        queue_size: requests running or waiting at once; one more gets 429.
        max_upload_bytes: a larger upload gets 413.
        request_timeout: seconds a transcription may wait and run before 504.
        idle_timeout: seconds a WebSocket may stay silent before it is closed.
        model_name: what /health and the JSON answers call the model.
        max_batch: inputs per shared forward pass when the model takes batches (Keras;
            ``asr.serving.batcher``); 1 turns batching off. A batch-1 TFLite model is
            never batched.
        batch_wait: seconds the first request of a pass waits for others to join it.
    """

    api_key: str | None = None
    queue_size: int = 16
    max_upload_bytes: int = 25 * 1024 * 1024  # the OpenAI API's own limit
    request_timeout: float = 120.0
    idle_timeout: float = 30.0
    model_name: str = "asr"
    max_batch: int = 16
    batch_wait: float = 0.005
