"""Model serving: online inference, batching, traffic, prediction log, batch scoring.

Nothing here is built yet beyond the package; docs/serving.md says what is
and how it fits together. Importing it imports no ML or web library.
"""

from __future__ import annotations

__all__: list[str] = []
