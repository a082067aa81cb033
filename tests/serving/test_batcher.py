"""Batching concurrent requests' forward passes (asr.serving.batcher): requests share
passes, each gets its own scores back, and errors reach every waiting request. The
server's own test (concurrent clients answered as each alone) is in test_server.py."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from asr.serving.batcher import BatchingBackend, batches


class Doubler:
    """A backend whose forward pass doubles each input, takes 20 ms and records its batch sizes."""

    runs_batches = True
    frame_seconds = 0.04

    def __init__(self, fail_on: float | None = None):
        self.sizes: list[int] = []
        self.fail_on = fail_on

    def forward(self, inputs, batch_size=32, desc=None):
        self.sizes.append(len(inputs))
        time.sleep(0.02)
        if self.fail_on is not None and any((x == self.fail_on).any() for x in inputs):
            raise ValueError("bad input")
        return [2 * x for x in inputs]


def concurrently(batcher: BatchingBackend, groups: list[list[np.ndarray]]) -> list:
    barrier = threading.Barrier(len(groups))

    def call(group):
        barrier.wait()
        try:
            return batcher.forward(group)
        except ValueError as exc:
            return exc

    with ThreadPoolExecutor(len(groups)) as pool:
        return list(pool.map(call, groups))


def test_concurrent_requests_share_passes_and_get_their_own_scores():
    backend = Doubler()
    batcher = BatchingBackend(backend, max_batch=8, max_wait=0.05)
    groups = [[np.full(3, float(i))] for i in range(12)] + [[np.full(2, 100.0 + i) for i in range(3)]]
    try:
        results = concurrently(batcher, groups)
    finally:
        batcher.close()
    for group, scores in zip(groups, results):
        assert len(scores) == len(group)
        for x, y in zip(group, scores):
            np.testing.assert_array_equal(y, 2 * x)
    assert sum(backend.sizes) == 15 and max(backend.sizes) <= 8
    assert len(backend.sizes) < len(groups) / 2  # 13 requests in a few passes
    assert batcher.passes == len(backend.sizes) and batcher.served == len(groups)
    assert batcher.frame_seconds == 0.04  # the rest is the backend's


def test_a_request_larger_than_the_batch_runs_alone():
    backend = Doubler()
    batcher = BatchingBackend(backend, max_batch=2, max_wait=0.01)
    try:
        scores = batcher.forward([np.ones(1)] * 5)
    finally:
        batcher.close()
    assert backend.sizes == [5] and len(scores) == 5


def test_an_error_reaches_every_request_of_its_pass_and_the_worker_goes_on():
    backend = Doubler(fail_on=-1.0)
    batcher = BatchingBackend(backend, max_batch=8, max_wait=0.1)
    try:
        results = concurrently(batcher, [[np.full(1, -1.0)], [np.full(1, 5.0)]])
        assert len(backend.sizes) == 1  # one pass held both: both get its error
        assert all(isinstance(r, ValueError) for r in results)
        np.testing.assert_array_equal(batcher.forward([np.full(1, 4.0)])[0], [8.0])
    finally:
        batcher.close()


def test_which_backends_batch():
    from asr.inference.backends import KerasBackend
    from asr.inference.lite import LiteBackend

    assert batches(KerasBackend.__new__(KerasBackend)) and not batches(LiteBackend.__new__(LiteBackend))
    assert not batches(None)


def test_a_lone_request_does_not_wait_for_company():
    backend = Doubler()
    waiting = BatchingBackend(backend, max_batch=8, max_wait=0.5)
    alone = BatchingBackend(backend, max_batch=8, max_wait=0.5, pending=lambda: 1)
    try:
        start = time.monotonic()
        waiting.forward([np.ones(1)])
        waited = time.monotonic() - start
        start = time.monotonic()
        alone.forward([np.ones(1)])
        ran = time.monotonic() - start
    finally:
        waiting.close()
        alone.close()
    assert waited >= 0.5 and ran < 0.3
