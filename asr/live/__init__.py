"""Live speech: audio sources (microphone, a file at real-time pace), endpointing, and
partial and final results as someone speaks (``asr listen``, the server's WebSocket)."""
