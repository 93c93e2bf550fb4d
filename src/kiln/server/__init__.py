"""Kiln's HTTP server: one FastAPI app, every domain a router under ``/api/v1``.

- ``app.create_app(context)`` builds the app; ``kiln server`` runs it with uvicorn.
- ``deps`` holds the shared dependencies (the store, the authenticated caller,
  the request's project, role checks); ``api/`` one router per resource.
- ``errors`` is the one table from Kiln's exceptions to HTTP status codes.
- ``middleware`` adds request ids, the access log and the audit log.
"""

from kiln.server.app import create_app

__all__ = ["create_app"]
