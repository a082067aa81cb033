"""Keeping what a client sends within bounds before the web framework reads it:
an upload over the limit is refused by its declared length, or, when it does not
declare one (chunked), as soon as the bytes that arrived pass the limit; it is
never spooled to disk whole."""

from __future__ import annotations

import json
import logging

log = logging.getLogger("asr")

MULTIPART_OVERHEAD = 64 * 1024  # bytes a multipart body may carry besides the file: boundaries, form fields


class UploadLimit:
    """ASGI middleware: an HTTP request body over ``max_bytes`` (+ ``MULTIPART_OVERHEAD``)
    gets 413 in the OpenAI error shape, and the rest of it is not read."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes
        self.limit = max_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await self._refuse(scope, send)
        state = {"seen": 0, "over": False, "started": False}

        async def counted():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}  # the framework stops reading, as for a client gone
            return message

        async def guarded(message):
            if state["over"]:
                return  # whatever the app answers to a "disconnect", the client gets the 413 below
            state["started"] = True
            await send(message)

        await self.app(scope, counted, guarded)
        if state["over"] and not state["started"]:
            await self._refuse(scope, send)

    async def _refuse(self, scope, send) -> None:
        message = f"the upload is larger than {self.max_bytes} bytes"
        log.warning(f"{scope.get('method')} {scope.get('path')}: 413 {message}")
        body = json.dumps({"error": {"message": message, "code": 413}}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
