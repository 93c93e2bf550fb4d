"""An answer, then what follows it: the project's webhooks told when a task completes.

The answer is committed first; the webhooks are posted afterwards, from a
background thread, so a slow or broken receiver never holds an annotator
up nor costs an answer. Each webhook is tried three times (1 s, then 2 s
apart) through the same address guard as alert webhooks
(``kiln.alerts._address_guard``: no loopback, private or metadata address
unless ``KILN_WEBHOOK_ALLOW`` lets it); a delivery that still fails is
logged as an error with the webhook's origin. The SDK and the REST API
both answer through :func:`answer`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from kiln.errors import InvalidInput, Unavailable

if TYPE_CHECKING:
    from kiln.context import Context
    from kiln.labeling._entities import Task
    from kiln.labeling._tasks import Submitted

__all__ = ["ATTEMPTS", "answer", "completion_payload", "notify"]

_log = logging.getLogger("kiln.labeling")
ATTEMPTS = 3


def completion_payload(project: str, name: str, task: Task) -> dict[str, Any]:
    """What a webhook receives when a task completes (no gold answer in it)."""
    return {
        "event": "labeling.task.completed",
        "project": project,
        "labeling_project": name,
        "task": task.to_dict(with_gold=False),
    }


def _deliver(urls: list[str], body: bytes, backoff: float) -> None:
    from kiln.alerts._address_guard import check_url_form
    from kiln.alerts._webhook_post import post_json

    for url in urls:
        origin = "{0.scheme}://{0.netloc}".format(check_url_form(url))
        for attempt in range(1, ATTEMPTS + 1):
            try:
                post_json(url, body)
                break
            except Unavailable as exc:
                if attempt == ATTEMPTS:
                    _log.error("labeling webhook %s failed %d times: %s", origin, attempt, exc)
                else:
                    time.sleep(backoff * 2 ** (attempt - 1))
            except InvalidInput as exc:  # refused by the guard, or a 4xx: retrying will not help
                _log.error("labeling webhook %s refused: %s", origin, exc)
                break


def notify(
    urls: list[str], payload: dict[str, Any], *, backoff: float = 1.0, wait: bool = False
) -> threading.Thread | None:
    """Post ``payload`` to each webhook in the background; the thread (joined with ``wait``)."""
    if not urls:
        return None
    import orjson

    body = orjson.dumps(payload)
    thread = threading.Thread(
        target=_deliver,
        args=(list(urls), body, backoff),
        name="kiln-labeling-webhooks",
        daemon=True,
    )
    thread.start()
    if wait:
        thread.join()
    return thread


def answer(
    context: Context,
    project: str,
    name: str,
    task_id: int,
    annotator: str,
    label: Any = None,
    *,
    skip: bool = False,
    comment: str = "",
    seconds: float | None = None,
) -> Submitted:
    """Record an answer (``_tasks.submit``); tell the webhooks if it completed the task."""
    import json

    from kiln.labeling._projects import project_row
    from kiln.labeling._tasks import submit

    done: Submitted = context.db.run(
        submit,
        project,
        name,
        task_id,
        annotator,
        label,
        skip=skip,
        comment=comment,
        seconds=seconds,
    )
    if done.completed:
        urls: list[str] = json.loads(
            context.db.read(lambda s: project_row(s, project, name).webhooks)
        )
        notify(urls, completion_payload(project, name, done.task))
    return done
