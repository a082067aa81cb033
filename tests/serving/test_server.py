"""``asr serve``: the official OpenAI client gets what ``asr transcribe`` prints, the WebSocket
streams what ``asr listen`` would, and the limits (413, 429, 401, idle clients) hold."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import socket
import threading
import time

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("fastapi", reason="asr serve needs the serve extra: pip install -e '.[serve]'")
from helpers import Server, silent_wav as _wav  # noqa: E402

from asr.inference.longform import Transcript  # noqa: E402
from asr.serving.app import create_app  # noqa: E402
from asr.serving.options import ServeOptions  # noqa: E402

RATE = 16000


class SlowRecognizer:
    """Holds each transcription until ``release`` is set."""

    sample_rate, max_duration = RATE, 20.0

    def __init__(self):
        self.release = threading.Event()

    def transcribe_long(self, path):
        self.release.wait(10)
        return Transcript("slow", [], 1.0)


def test_health_page_and_limits(tmp_path):
    import httpx

    slow = SlowRecognizer()
    app = create_app(slow, ServeOptions(queue_size=1, max_upload_bytes=50_000, api_key="s3cret"))
    with Server(app) as url:
        auth = {"Authorization": "Bearer s3cret"}
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        assert "WebSocket" in httpx.get(f"{url}/").text
        files = {"file": ("a.wav", open(_wav(tmp_path), "rb"))}
        assert httpx.post(f"{url}/v1/audio/transcriptions", files=files).status_code == 401
        wrong = httpx.post(f"{url}/v1/audio/transcriptions", files=files, headers={"Authorization": "Bearer x"})
        assert wrong.status_code == 401
        big = httpx.post(f"{url}/v1/audio/transcriptions", headers=auth,
                         files={"file": ("big.wav", b"\0" * 60_000)})
        assert big.status_code == 413 and "larger than" in big.json()["error"]["message"]
        first = threading.Thread(target=httpx.post, args=(f"{url}/v1/audio/transcriptions",),
                                 kwargs={"files": {"file": ("a.wav", b"RIFF")}, "headers": auth, "timeout": 20})
        first.start()
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/health").json()["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        busy = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", b"RIFF")}, headers=auth)
        assert busy.status_code == 429  # the queue (one) is full
        slow.release.set()
        first.join(20)
        bad = httpx.post(f"{url}/v1/audio/transcriptions", headers=auth, data={"response_format": "xml"},
                         files={"file": ("a.wav", b"RIFF")})
        assert bad.status_code == 400 and "response_format" in bad.json()["error"]["message"]


@pytest.mark.slow
def test_the_openai_client_gets_what_asr_transcribe_prints(cli, corpus):
    """The shipped model (it knows the corpus's digits, so the texts are not empty)."""
    import asr

    openai = pytest.importorskip("openai")
    recognizer = asr.load()
    paths = [str(corpus.dir / r["audio_filepath"]) for r in corpus.rows["test"][:2]]
    printed = cli("transcribe", *paths).stdout.splitlines()
    assert len(printed) == 2 and all(line.split("\t")[1] for line in printed)
    with Server(create_app(recognizer)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
        for path, line in zip(paths, printed):
            with open(path, "rb") as f:
                got = client.audio.transcriptions.create(model="asr", file=f)
            assert f"{path}\t{got.text}" == line
        with open(paths[0], "rb") as f:
            srt = client.audio.transcriptions.create(model="asr", file=f, response_format="srt")
        with open(paths[0], "rb") as f:
            verbose = client.audio.transcriptions.create(model="asr", file=f, response_format="verbose_json")
    from asr.inference.subtitles import to_srt

    transcript = recognizer.transcribe_long(paths[0])
    assert (srt if isinstance(srt, str) else getattr(srt, "text", str(srt))) == to_srt(transcript.words)
    assert verbose.text == transcript.text and [w.word for w in verbose.words] == [w.word for w in transcript.words]


@pytest.mark.slow
def test_the_websocket_streams_partials_and_finals(corpus, tmp_path):
    import websockets

    import asr
    from asr.live.stream import StreamingRecognizer

    recognizer = asr.load()  # the shipped model: it knows the digits, so there is text to compare

    a = recognizer.samples(str(corpus.dir / corpus.rows["test"][0]["audio_filepath"]))
    stream = np.concatenate([np.zeros(RATE // 2), a, np.zeros(RATE // 2)]).astype(np.float32)
    stream += np.random.default_rng(1).normal(0, 1e-3, len(stream)).astype(np.float32)
    pcm = (np.clip(stream, -1, 1) * 32767).astype("<i2")

    async def talk(url):
        got = []
        async with websockets.connect(f"{url}/v1/stream?sample_rate={RATE}") as ws:
            for i in range(0, len(pcm), 1600):
                await ws.send(pcm[i:i + 1600].tobytes())
            await ws.send(json.dumps({"eof": 1}))
            async for message in ws:
                got.append(json.loads(message))
        return got

    with Server(create_app(recognizer)) as url:
        got = asyncio.run(talk(url.replace("http", "ws")))
    assert got[-1] == {"eof": True}
    finals = [m for m in got if "text" in m]
    streamer = StreamingRecognizer(recognizer)
    samples = pcm.astype(np.float32) / 32768.0
    expected = [r for i in range(0, len(samples), 1600) for r in streamer.feed(samples[i:i + 1600])]
    expected += streamer.flush()
    assert [m["text"] for m in finals] == [r.text for r in expected if r.final] and finals[0]["text"]
    assert [m["partial"] for m in got if "partial" in m] == [r.text for r in expected if not r.final]


@pytest.mark.slow
@pytest.mark.needs_chromium
@pytest.mark.needs_espeak
def test_the_page_listens_in_a_real_browser(tmp_path):
    """Headless Chromium with a WAV file as its microphone (``--use-file-for-fake-audio-capture``)
    opens the page, which streams to the WebSocket and shows the finals; read back over the
    DevTools protocol, screenshot in ``tmp_path``."""
    import base64
    import subprocess
    import urllib.request

    import websockets

    import asr

    from helpers import espeak

    recognizer = asr.load()
    a = espeak("turn off the kitchen lights", voice="en-us+m3", tmp_dir=tmp_path)
    wav = tmp_path / "mic.wav"
    sf.write(wav, np.concatenate([np.zeros(RATE // 2), a, np.zeros(RATE * 2)]).astype(np.float32), RATE,
             subtype="PCM_16")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    browser = subprocess.Popen(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                                f"--remote-debugging-port={port}", "--use-fake-ui-for-media-stream",
                                "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
                                "--window-size=900,500", "about:blank"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    async def drive(page_url):
        deadline = time.monotonic() + 30
        while True:
            try:
                tabs = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
                break
            except OSError:
                assert time.monotonic() < deadline, "chromium did not start"
                await asyncio.sleep(0.2)
        tab = next(t for t in tabs if t["type"] == "page")
        async with websockets.connect(tab["webSocketDebuggerUrl"], max_size=2 ** 26) as ws:
            calls = iter(range(1, 1000))

            async def call(method, **params):
                n = next(calls)
                await ws.send(json.dumps({"id": n, "method": method, "params": params}))
                while True:
                    answer = json.loads(await ws.recv())
                    if answer.get("id") == n:
                        return answer["result"]

            await call("Page.navigate", url=page_url)
            text = ""
            while "\n" not in text and time.monotonic() < deadline + 30:
                await asyncio.sleep(0.5)
                text = (await call("Runtime.evaluate", expression="document.getElementById('finals').innerText"))[
                    "result"].get("value", "")
            shot = await call("Page.captureScreenshot", format="png")
            (tmp_path / "page.png").write_bytes(base64.b64decode(shot["data"]))
            return text

    try:
        with Server(create_app(recognizer)) as url:
            finals = asyncio.run(drive(f"{url}/?autostart=1"))
    finally:
        browser.terminate()
        browser.wait(10)
    # the browser resamples the "microphone" to its own rate and back: the words, not the samples, must agree
    assert recognizer.transcribe(a, recognizer.sample_rate) == "turn off the kitchen lights"
    assert finals.splitlines()[0].startswith("turn off the kitchen lights")
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_server_answers_concurrent_clients_as_each_alone(corpus):
    import httpx

    import asr

    recognizer = asr.load("saved_models/commands/model.keras")  # Keras: its passes batch
    paths = [str(corpus.dir / row["audio_filepath"]) for row in corpus.rows["test"]] * 2
    alone = {path: recognizer.transcribe_long(path).text for path in set(paths)}
    app = create_app(recognizer, ServeOptions(max_batch=16, batch_wait=0.05))

    def post(path):
        with open(path, "rb") as handle:
            answer = httpx.post(f"{url}/v1/audio/transcriptions", files={"file": ("a.wav", handle)}, timeout=120)
        return answer.status_code, answer.json()["text"]

    with Server(app) as url, concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        answers = list(pool.map(post, paths))
    assert answers == [(200, alone[path]) for path in paths]
    assert any(alone.values())
    work = app.state.recognition
    assert work.batcher.served == len(paths) and work.batcher.passes < len(paths)
