"""A job's output on its way to the database: read from pipes, buffered, taken in chunks.

One reader thread per pipe decodes UTF-8 as it comes (bad bytes become
U+FFFD, NUL too, which PostgreSQL text cannot hold) into one buffer that
Kiln's own notes (``[kiln] …`` lines) also go into, so they sit in order
with the job's output. The executor takes the buffer every tick and stores
it as chunks of at most ``CHUNK_CHARS``. Past ``MAX_CHARS`` in all, output
is counted but not kept, so a job printing without end cannot fill the store.
"""

from __future__ import annotations

import codecs
import threading
from typing import IO

__all__ = ["CHUNK_CHARS", "MAX_CHARS", "Output"]

CHUNK_CHARS = 256 * 1024
MAX_CHARS = 64 * 1024 * 1024
_READ = 64 * 1024


class Output:
    """The buffer of a job's output, shared by its readers and the executor."""

    def __init__(self, max_chars: int = MAX_CHARS) -> None:
        self.max_chars = max_chars
        self._lock = threading.Lock()
        self._parts: list[str] = []
        self._kept = 0
        self.dropped = 0

    def write(self, text: str) -> None:
        if not text:
            return
        text = text.replace("\x00", "\ufffd")
        with self._lock:
            room = self.max_chars - self._kept
            if len(text) > room:
                self.dropped += len(text) - max(room, 0)
                text = text[: max(room, 0)]
            if text:
                self._parts.append(text)
                self._kept += len(text)

    def note(self, message: str) -> None:
        """A line of Kiln's own, in order with the job's output."""
        with self._lock:  # notes are kept past the limit: they say what happened
            self._parts.append(f"[kiln] {message}\n")

    def take(self) -> list[str]:
        """What arrived since the last call, as chunks of at most ``CHUNK_CHARS``."""
        with self._lock:
            text, self._parts = "".join(self._parts), []
        return [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]

    def follow(self, pipe: IO[bytes]) -> threading.Thread:
        """Start a thread copying ``pipe`` into the buffer until it closes."""
        thread = threading.Thread(target=self._copy, args=(pipe,), name="kiln-job-output")
        thread.daemon = True
        thread.start()
        return thread

    def _copy(self, pipe: IO[bytes]) -> None:
        import os

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = pipe.fileno()
        try:
            while True:
                data = os.read(fd, _READ)
                if not data:
                    break
                self.write(decoder.decode(data))
            self.write(decoder.decode(b"", final=True))
        except OSError:  # closed under us when the executor gives up on a stuck pipe
            pass
        finally:
            pipe.close()
