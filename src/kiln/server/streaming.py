"""Request and response bodies streamed to and from the artifact store.

Uploads spool to a temporary file chunk by chunk (the store then hashes and
publishes it); downloads stream the blob in 1 MiB chunks. Neither holds a
whole file in memory, whatever its size.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import StreamingResponse

from kiln.artifacts import ArtifactStore, Blob

CHUNK = 1 << 20


async def receive_blob(request: Request, store: ArtifactStore) -> Blob:
    """Store the request body as a blob."""
    with tempfile.TemporaryDirectory(prefix="kiln-upload-") as folder:
        spool = Path(folder) / "body"
        with spool.open("wb") as out:
            async for chunk in request.stream():
                out.write(chunk)
        return await anyio.to_thread.run_sync(store.put_file, spool)


def blob_response(store: ArtifactStore, digest: str, size: int) -> StreamingResponse:
    """A response streaming the blob ``digest`` (its digest doubles as the ETag)."""
    handle = store.open(digest)

    def chunks() -> Iterator[bytes]:
        with handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    return StreamingResponse(
        chunks(),
        media_type="application/octet-stream",
        headers={"Content-Length": str(size), "ETag": f'"{digest}"'},
    )
