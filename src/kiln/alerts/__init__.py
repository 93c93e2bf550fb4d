"""Alerts: records of something that needs a person, kept until someone acts.

A failed quality gate raises one (``kind="data_validation"``) holding the
failed checks and their evidence, and a readable report in the artifact
store; the monitors will raise theirs the same way. An alert is about one
lineage node (its *subject*), is OPEN until it is ACCEPTED (let through as
it is) or RESOLVED, and says who closed it and why. Services take a
``Session`` first (``_alerts.py``).

Outbound webhooks (alert sinks, labeling) are posted through
``_webhook_post.py`` to addresses ``_address_guard.py`` allows.
"""

from kiln.alerts._alerts import (
    Alert,
    AlertStatus,
    get_alert,
    list_alerts,
    raise_alert,
    resolve_alert,
)

__all__ = ["Alert", "AlertStatus", "get_alert", "list_alerts", "raise_alert", "resolve_alert"]
