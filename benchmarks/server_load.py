"""Server throughput and latency for 1, 4 and 16 concurrent clients on loopback, and the
server's memory over 10,000 requests (docs/LIVE.md, "Server load").

    python benchmarks/server_load.py [--model MODEL] [--out benchmarks/server_load.json]

Starts ``asr serve`` (``python -m asr serve``, its own process) on a free loopback port, then
posts one held-out commands utterance (``--audio``, default the first of ``--manifest``) to
``POST /v1/audio/transcriptions`` (multipart, ``response_format=json``) from ``C`` concurrent
clients (``httpx.AsyncClient``), ``--requests`` requests per level after a warm-up. Latency is
per request, client side (send → answer). Then ``--memory-requests`` requests from 4 clients,
reading the server's resident memory (``/proc/PID/status`` VmRSS) every 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def start_server(model: str | None, port: int, extra: list[str]) -> subprocess.Popen:
    """``asr serve`` on 127.0.0.1:``port`` (with ``extra`` options), once ``/health`` answers."""
    import httpx

    cmd = [sys.executable, "-m", "asr", "serve", "--port", str(port), "--queue-size", "64", *extra]
    server = subprocess.Popen(cmd + (["--model", model] if model else []), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"asr serve exited: {server.stderr.read()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    server.kill()
    raise RuntimeError("asr serve did not answer /health in 180 s")


async def load(url: str, audio: bytes, clients: int, requests: int) -> tuple[list[float], float, set]:
    """``requests`` posts from ``clients`` concurrent clients: per-request seconds, wall seconds, texts."""
    import httpx

    latencies, texts, left = [], set(), iter(range(requests))

    async def client(http):
        for _ in left:
            start = time.perf_counter()
            answer = await http.post(url, files={"file": ("a.wav", audio, "audio/wav")},
                                     data={"model": "asr", "response_format": "json"})
            answer.raise_for_status()
            latencies.append(time.perf_counter() - start)
            texts.add(answer.json()["text"])

    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=clients)) as http:
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        return latencies, time.perf_counter() - start, texts


def level(url: str, audio: bytes, audio_seconds: float, clients: int, requests: int) -> dict:
    asyncio.run(load(url, audio, clients, 2 * clients))  # warm-up
    latencies, wall, texts = asyncio.run(load(url, audio, clients, requests))
    ms = np.array(latencies) * 1e3
    row = {"clients": clients, "requests": requests, "requests_per_s": round(requests / wall, 1),
           "audio_s_per_s": round(requests * audio_seconds / wall, 1),
           "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1),
           "distinct_texts": len(texts)}
    print(row, flush=True)
    return row


def memory(url: str, audio: bytes, pid: int, total: int, every: int = 1000) -> list[dict]:
    rows = [{"requests": 0, "rss_mb": round(rss_mb(pid), 1)}]
    for done in range(every, total + 1, every):
        asyncio.run(load(url, audio, 4, every))
        rows.append({"requests": done, "rss_mb": round(rss_mb(pid), 1)})
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="default: asr serve's (the shipped model's TFLite file)")
    p.add_argument("--manifest", default="data/commands_eval/test.jsonl")
    p.add_argument("--audio", help="the file every request sends (default: the manifest's first)")
    p.add_argument("--requests", type=int, default=300, help="per concurrency level (default: 300)")
    p.add_argument("--memory-requests", type=int, default=10000, help="0: no memory run")
    p.add_argument("--max-batch", type=int, help="asr serve --max-batch (default: asr serve's)")
    p.add_argument("--out", default="benchmarks/server_load.json")
    args = p.parse_args()
    import soundfile as sf

    from asr.data.manifest import read_manifest

    path = args.audio or read_manifest(args.manifest)[0][0].audio_filepath
    audio, seconds = Path(path).read_bytes(), sf.info(path).duration
    port = free_port()
    server = start_server(args.model, port, [] if args.max_batch is None else ["--max-batch", str(args.max_batch)])
    url = f"http://127.0.0.1:{port}/v1/audio/transcriptions"
    try:
        levels = [level(url, audio, seconds, c, args.requests) for c in (1, 4, 16)]
        rss = memory(url, audio, server.pid, args.memory_requests) if args.memory_requests else []
    finally:
        server.terminate()
        server.wait(30)
    after_first = [r["rss_mb"] for r in rss[1:]]
    result = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
              "model": args.model or "asr serve's default", "max_batch": args.max_batch,
              "audio": path, "audio_seconds": round(seconds, 2),
              "levels": levels, "memory": rss,
              "rss_growth_mb_after_first_1000": round(after_first[-1] - after_first[0], 1) if after_first else None,
              "rss_median_mb": statistics.median(after_first) if after_first else None}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in result.items() if k != "memory"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
