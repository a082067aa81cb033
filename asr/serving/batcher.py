"""Batching concurrent requests' forward passes: the server's requests run in
threads, and a backend that takes batches (Keras) runs theirs together.

A request's thread hands its inputs to ``BatchingBackend.forward`` and waits. One
worker thread takes the first waiting request, then whatever else arrives within
``max_wait`` seconds, up to ``max_batch`` inputs, runs them as one
length-bucketed forward pass, and hands each request its own scores. Decoding
stays in the requests' threads. A backend whose model has batch size 1 (the
TFLite file) gains nothing: ``batches(backend)`` says which do.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


def batches(backend) -> bool:
    """Whether ``backend.forward`` runs several inputs per pass (the Keras backend does;
    the TFLite one invokes its batch-1 graph once per input)."""
    return bool(getattr(backend, "runs_batches", False))


_STOP = object()  # put on the queue by close()


@dataclass
class _Request:
    inputs: list
    done: threading.Event = field(default_factory=threading.Event)
    scores: list | None = None
    error: BaseException | None = None


class BatchingBackend:
    """``backend`` with its forward passes shared between threads (see the module docstring).

    Args:
        backend: a backend that ``batches``.
        max_batch: inputs per forward pass, at most (a request with more runs alone).
        max_wait: seconds the first request waits for others to join it.
        pending: how many requests the caller has in flight (a server's count), or None.
            A pass waits for others only while more are in flight than it holds:
            a lone client's request runs at once instead of waiting ``max_wait``.

    Everything but ``forward`` is the wrapped backend's. ``close()`` stops the worker.
    """

    def __init__(self, backend, max_batch: int, max_wait: float, pending=None):
        self.backend, self.max_batch, self.max_wait, self.pending = backend, max_batch, max_wait, pending
        self.passes = 0  # forward passes run, and the requests they served: the batching actually achieved
        self.served = 0
        self._queue: queue.Queue = queue.Queue()  # _Request, or _STOP
        self._worker = threading.Thread(target=self._run, name="asr-batcher", daemon=True)
        self._worker.start()

    def __getattr__(self, name):  # tokenizer, features, frame_seconds, prepare, ...: the backend's own
        return getattr(self.backend, name)

    def forward(self, inputs: Sequence[np.ndarray], batch_size: int = 32,
                desc: str | None = None) -> list[np.ndarray]:
        """Per-input scores, as the backend's ``forward`` gives them, computed in a shared pass."""
        request = _Request(list(inputs))
        if not request.inputs:
            return []
        self._queue.put(request)
        request.done.wait()
        if request.error is not None:
            raise request.error
        return request.scores

    def close(self) -> None:
        """Stop the worker once the requests already queued are served."""
        self._queue.put(_STOP)
        self._worker.join()

    def _run(self) -> None:
        held = None  # a request that did not fit the last pass: it leads the next
        while True:
            first = held if held is not None else self._queue.get()
            if first is _STOP:
                return
            requests, held = self._gather(first)
            self._serve(requests)

    def _serve(self, requests: list[_Request]) -> None:
        inputs = [x for r in requests for x in r.inputs]
        try:
            scores = self.backend.forward(inputs, max(self.max_batch, len(inputs)))
        except Exception as exc:  # noqa: BLE001 -- every waiting request gets the error, the worker goes on
            for request in requests:
                request.error = exc
                request.done.set()
            return
        self.passes += 1
        self.served += len(requests)
        start = 0
        for request in requests:
            request.scores = scores[start:start + len(request.inputs)]
            start += len(request.inputs)
            request.done.set()

    def _gather(self, first: _Request) -> tuple[list[_Request], object]:
        """``first`` and the requests that arrive within ``max_wait`` while there is room;
        and what was taken but not added (a request that does not fit, or the stop), or None."""
        requests, count = [first], len(first.inputs)
        deadline = time.monotonic() + self.max_wait
        while count < self.max_batch:
            alone = self.pending is not None and self.pending() <= len(requests)  # nobody else to wait for
            try:
                request = self._queue.get(timeout=0.0 if alone else max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                break
            if request is _STOP or count + len(request.inputs) > self.max_batch:
                return requests, request
            requests.append(request)
            count += len(request.inputs)
        return requests, None
