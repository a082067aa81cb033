"""What a client may send ``asr serve`` that it should not: garbage, a truncated or
huge upload, a wrong content type, text on the PCM stream, a stream cut mid-way, a
bad sample rate, a path in the file name, a client that stops half-way. Each gets a
clear status or close code and one log line, and the server goes on serving."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="asr serve needs the serve extra: pip install -e '.[serve]'")
import httpx  # noqa: E402
from helpers import SAMPLE_RATE as RATE  # noqa: E402
from helpers import Server, silent_wav as _wav  # noqa: E402

import asr  # noqa: E402
from asr.serving.app import create_app  # noqa: E402
from asr.serving.options import ServeOptions  # noqa: E402

LIMIT = 200_000  # bytes: the test server's upload limit


@pytest.fixture(scope="module")
def server():
    with Server(create_app(asr.load(), ServeOptions(max_upload_bytes=LIMIT, idle_timeout=2.0))) as url:
        yield url


def raw_request(url: str, head: bytes, body: bytes = b"", read: bool = True, close: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    sock.sendall(head + body)
    answer = b""
    if read:
        while chunk := sock.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and b"}" in answer:
                break
    if close:
        sock.close()
    return answer if close else sock


def asr_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "asr"]


def still_serving(url: str, tmp_path) -> None:
    assert httpx.get(f"{url}/health", timeout=10).json()["status"] == "ok"
    with open(_wav(tmp_path), "rb") as handle:  # silence: "" from the model, and a 200
        answer = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", handle)}, timeout=60)
    assert answer.status_code == 200 and answer.json() == {"text": ""}


def test_garbage_and_wrong_content_get_400_and_one_line(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="asr")
    garbage = httpx.post(f"{server}/v1/audio/transcriptions", files={"file": ("a.wav", os.urandom(5000))})
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == 400
    wrong = httpx.post(f"{server}/v1/audio/transcriptions", json={"file": "a.wav"})
    assert wrong.status_code == 400 and "multipart/form-data" in wrong.json()["error"]["message"]
    lines = asr_lines(caplog)
    assert len(lines) == 2 and all(line.startswith("POST /v1/audio/transcriptions: 400") for line in lines)
    still_serving(server, tmp_path)


def test_huge_uploads_get_413_before_they_are_read(server, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="asr")
    # a declared 2 GB body: refused from its header, none of the body sent
    head = (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 2147483648\r\n\r\n")
    start = time.monotonic()
    answer = raw_request(server, head, b"--b\r\n")
    assert answer.startswith(b"HTTP/1.1 413") and b"larger than" in answer and time.monotonic() - start < 10

    def chunks():  # no length declared: refused once the bytes that arrived pass the limit
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n"
        for _ in range(10_000):  # 640 MB if it were all read
            yield b"\0" * 65536

    streamed = httpx.post(f"{server}/v1/audio/transcriptions", content=chunks(), timeout=60,
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413 and streamed.json()["error"]["code"] == 413
    assert [line.split(":")[1].strip() for line in asr_lines(caplog)] == ["413 the upload is larger than 200000 bytes"] * 2
    still_serving(server, tmp_path)


def test_truncated_and_stalled_requests_leave_the_others_served(server, tmp_path):
    head = (b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 100000\r\n\r\n")
    raw_request(server, head, b"--b\r\nContent-Disposition: form-data; name=\"file\"", read=False)  # cut, gone
    stalled = raw_request(server, b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n", read=False, close=False)
    never_reads = raw_request(server, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 50, read=False, close=False)
    try:
        still_serving(server, tmp_path)
    finally:
        stalled.close()
        never_reads.close()


def test_a_path_in_the_file_name_reaches_no_file(server, tmp_path):
    target = Path("/tmp") / f"asr-escape-{os.getpid()}.wav"
    name = "../" * 12 + str(target).lstrip("/")
    with open(_wav(tmp_path), "rb") as handle:
        answer = httpx.post(f"{server}/v1/audio/transcriptions", files={"file": (name, handle)}, timeout=60)
    assert answer.status_code == 200 and not target.exists()


def test_the_stream_refuses_text_cut_streams_and_bad_rates(server, tmp_path, caplog):
    import websockets

    caplog.set_level(logging.INFO, logger="asr")
    ws_url = server.replace("http", "ws") + "/v1/stream"
    pcm = (np.random.default_rng(0).normal(0, 0.01, RATE) * 32767).astype("<i2").tobytes()

    async def text_instead_of_pcm():
        async with websockets.connect(f"{ws_url}?sample_rate={RATE}") as ws:
            await ws.send(pcm[:3200])
            await ws.send("hello")
            await ws.wait_closed()
            return ws.close_code

    async def cut_mid_stream():
        ws = await websockets.connect(f"{ws_url}?sample_rate={RATE}")
        await ws.send(pcm)
        ws.transport.abort()  # no close handshake: the connection just drops

    async def bad_rate(rate):
        try:
            async with websockets.connect(f"{ws_url}?sample_rate={rate}"):
                return "accepted"
        except websockets.exceptions.InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(text_instead_of_pcm()) == 1003
    asyncio.run(cut_mid_stream())
    assert asyncio.run(bad_rate("abc")) == 403 and asyncio.run(bad_rate("10")) == 403
    lines = asr_lines(caplog)
    assert len([line for line in lines if "closed 1003" in line]) == 1
    assert len([line for line in lines if "closed 1007" in line]) == 2
    still_serving(server, tmp_path)
