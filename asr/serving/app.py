"""The HTTP server (``asr serve``): an OpenAI-compatible transcription endpoint, a WebSocket
stream with partial and final results, a health check and a page that listens in the browser.

FastAPI on uvicorn: maintained, ASGI (one process serves HTTP and WebSockets
without threads per connection), with multipart parsing and request validation
built in; the OpenAI clients only need the HTTP shape to match.

    POST /v1/audio/transcriptions   multipart: file, model, language, prompt, response_format,
                                    temperature (accepted; only response_format changes anything)
    WS   /v1/stream?sample_rate=16000  16-bit little-endian mono PCM in binary messages;
                                    {"eof": 1} (or the text "EOF") flushes; the server sends
                                    {"partial": text} and {"text", "start", "end", "result": [words]}
    GET  /health                    {"status": "ok", "model": ..., "in_flight": n}
    GET  /                          the browser page

One recognizer serves every request, loaded once. Requests run in a pool of
``queue_size`` threads; at most ``queue_size`` may wait or run, the next gets 429.
A Keras model's forward passes are batched across the requests running at once
(``asr.serving.batcher``: one pass for whatever arrives within ``batch_wait``,
up to ``max_batch`` inputs), and decoding runs in each request's thread. A TFLite
model (batch size 1, one interpreter) runs one request at a time.
Uploads over ``max_upload_bytes`` get 413. With an API key, every request needs
``Authorization: Bearer KEY`` (the WebSocket may pass ``?api_key=KEY``),
compared in constant time.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import json
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from asr.core.errors import ASRError
from asr.inference.subtitles import to_srt, to_vtt
from asr.live.stream import StreamingRecognizer
from asr.serving.batcher import BatchingBackend, batches
from asr.serving.limits import UploadLimit
from asr.serving.options import ServeOptions

log = logging.getLogger("asr")

PAGE = Path(__file__).with_name("page.html")
MIN_RATE, MAX_RATE = 8000, 192000  # Hz a stream may declare
FORMATS = ("json", "text", "srt", "vtt", "verbose_json")


def create_app(recognizer, options: ServeOptions = ServeOptions()) -> FastAPI:
    """A FastAPI app around one loaded recognizer (``asr.load``)."""
    work = Recognition(recognizer, options)
    recognizer = work.recognizer

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        work.close()  # uvicorn has let the requests in flight finish

    app = FastAPI(title="asr", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.recognition = work  # its batcher's counts show how well requests batch
    app.add_middleware(UploadLimit, max_bytes=options.max_upload_bytes)

    def authorised(header: str | None, query: str | None = None) -> bool:
        if options.api_key is None:
            return True
        given = query or (header[7:] if header and header.lower().startswith("bearer ") else "")
        return hmac.compare_digest(given.encode(), options.api_key.encode())

    @app.get("/health")
    async def health():
        return {"status": "ok", "model": options.model_name, "in_flight": work.in_flight}

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return PAGE.read_text(encoding="utf-8")

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request, file: UploadFile = File(...), model: str = Form(None),
                             language: str = Form(None), prompt: str = Form(None),
                             response_format: str = Form("json"), temperature: float = Form(None)):
        if not authorised(request.headers.get("authorization")):
            return JSONResponse({"error": {"message": "invalid or missing API key"}}, 401)
        if response_format not in FORMATS:
            raise HTTPException(400, f"response_format {response_format!r} is not one of {', '.join(FORMATS)}")
        data = await file.read(options.max_upload_bytes + 1)
        if len(data) > options.max_upload_bytes:
            raise HTTPException(413, f"the file is larger than {options.max_upload_bytes} bytes")
        transcript = await work.run(_transcribe_bytes, recognizer, data, file.filename or "audio")
        return _answer(transcript, response_format)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        if not authorised(ws.headers.get("authorization"), ws.query_params.get("api_key")):
            await ws.close(code=1008)
            return
        rate = ws.query_params.get("sample_rate", str(recognizer.sample_rate))
        if not (rate.isdigit() and MIN_RATE <= int(rate) <= MAX_RATE):
            log.warning(f"WS /v1/stream: closed 1007, sample_rate {rate[:20]!r} is not {MIN_RATE}-{MAX_RATE} Hz")
            await ws.close(code=1007)
            return
        await ws.accept()
        await _stream(ws, work, int(rate), options.idle_timeout)

    app.add_exception_handler(HTTPException, _error)
    app.add_exception_handler(RequestValidationError, _malformed)
    return app


async def _error(request: Request, exc: HTTPException) -> JSONResponse:
    """The OpenAI API's error shape, and one log line."""
    log.warning(f"{request.method} {request.url.path}: {exc.status_code} {exc.detail}")
    return JSONResponse({"error": {"message": exc.detail, "code": exc.status_code}}, exc.status_code)


async def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
    """Not a multipart form with a file: 400 saying what is expected."""
    return await _error(request, HTTPException(400, "expected multipart/form-data with a 'file' field "
                                                    "(the OpenAI audio API's request)"))


class Recognition:
    """Where the server's recognition runs: a pool of request threads, the forward
    passes batched across them when the backend takes batches, else one request at
    a time; ``in_flight`` counts requests waiting or running.

    Args:
        recognizer: the loaded recognizer; ``self.recognizer`` is what requests use
            (a copy whose backend batches, when it does).
        options: the server's options.
    """

    def __init__(self, recognizer, options: ServeOptions):
        self.options = options
        self.in_flight = 0
        self.recognizer = recognizer
        self.batcher = None
        if options.max_batch > 1 and batches(getattr(recognizer, "backend", None)):
            self.batcher = BatchingBackend(recognizer.backend, options.max_batch, options.batch_wait,
                                           pending=lambda: self.in_flight)
            self.recognizer = copy.copy(recognizer)
            self.recognizer.backend = self.batcher
        # no batcher: one recognition at a time (a TFLite interpreter is not shared between threads)
        self.lock = contextlib.nullcontext() if self.batcher else asyncio.Lock()
        self.pool = ThreadPoolExecutor(max(options.queue_size, 1), thread_name_prefix="asr-request")

    async def run(self, call, *args):
        """``call(*args)`` in the pool, counted against ``queue_size``: 429 when full, 504 after
        ``request_timeout``, 400 for an ``ASRError``."""
        if self.in_flight >= self.options.queue_size:
            raise HTTPException(429, "too many requests in flight; try again")
        self.in_flight += 1
        try:
            return await asyncio.wait_for(self.step(call, *args), self.options.request_timeout)
        except asyncio.TimeoutError:
            raise HTTPException(504, "transcription timed out") from None
        except ASRError as exc:
            raise HTTPException(400, str(exc)) from None
        finally:
            self.in_flight -= 1

    async def step(self, call, *args):
        """``call(*args)`` in the pool, with the others (batched) or alone (under the lock)."""
        async with self.lock:
            return await asyncio.get_running_loop().run_in_executor(self.pool, call, *args)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        if self.batcher is not None:
            self.batcher.close()


def _transcribe_bytes(recognizer, data: bytes, name: str):
    """Uploaded bytes → a ``Transcript`` (written to a temporary file: every format ``asr`` reads)."""
    suffix = Path(name).suffix[:10] or ".wav"
    with tempfile.NamedTemporaryFile(suffix=suffix, delete=False) as f:
        f.write(data)
    try:
        return recognizer.transcribe_long(f.name)
    finally:
        os.unlink(f.name)


def _answer(transcript, response_format: str):
    if response_format == "text":
        return PlainTextResponse(transcript.text + "\n")
    if response_format in ("srt", "vtt"):
        return PlainTextResponse((to_srt if response_format == "srt" else to_vtt)(transcript.words))
    if response_format == "json":
        return {"text": transcript.text}
    segments = [{"id": i, "start": round(s, 3), "end": round(e, 3),
                 "text": " ".join(w.word for w in transcript.words if s <= w.start < e)}
                for i, (s, e) in enumerate(transcript.chunks)]
    return {"task": "transcribe", "language": "english", "duration": round(transcript.duration, 3),
            "text": transcript.text, "segments": segments,
            "words": [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in transcript.words]}


async def _stream(ws: WebSocket, work: Recognition, sample_rate: int, idle_timeout: float) -> None:
    """Vosk-style streaming: PCM in, {"partial"} and {"text", ...} out, until EOF or silence."""
    recognizer = work.recognizer
    streamer = StreamingRecognizer(recognizer)

    async def send(results) -> None:
        for r in results:
            await ws.send_text(json.dumps({"partial": r.text} if not r.final else
                                          {"text": r.text, "start": round(r.start, 3), "end": round(r.end, 3),
                                           "result": list(r.words), **({"tags": r.tags} if r.tags else {})}))

    try:
        while True:
            message = await asyncio.wait_for(ws.receive(), idle_timeout)
            if message.get("type") == "websocket.disconnect":
                return
            if message.get("bytes"):
                block = _pcm_block(message["bytes"], sample_rate, recognizer)
                results = await work.step(streamer.feed, block)
                await send(results)
            elif _is_eof(message.get("text")):
                results = await work.step(streamer.flush)
                await send(results)
                await ws.send_text(json.dumps({"eof": True}))
                await ws.close()
                return
            elif message.get("text") is not None:  # only PCM (binary) and the end-of-stream message are spoken here
                log.warning(f"WS /v1/stream: closed 1003, a text message that is not EOF: {message['text'][:40]!r}")
                await _close_quietly(ws, 1003)
                return
    except asyncio.TimeoutError:
        log.info(f"WS /v1/stream: closed after {idle_timeout:g} s without a message")
        await _close_quietly(ws, 1000)
    except WebSocketDisconnect:
        pass  # the client left


def _pcm_block(data: bytes, sample_rate: int, recognizer) -> np.ndarray:
    samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    if sample_rate != recognizer.sample_rate:
        import librosa  # here: only a stream at another rate needs it

        samples = librosa.resample(samples, orig_sr=sample_rate, target_sr=recognizer.sample_rate)
    return samples


def _is_eof(text: str | None) -> bool:
    if not text:
        return False
    if text.strip() == "EOF":
        return True
    try:
        return bool(json.loads(text).get("eof"))
    except (ValueError, AttributeError):
        return False


async def _close_quietly(ws: WebSocket, code: int) -> None:
    try:
        await ws.close(code=code)
    except RuntimeError:  # already closed
        pass
