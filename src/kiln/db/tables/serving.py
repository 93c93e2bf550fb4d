"""Tables of the prediction log: an index of its Parquet batches, and ground-truth labels.

The predictions themselves are not rows here: a server writes them in
batches, one Parquet blob per flush and deployment, and ``prediction_batches``
indexes each blob by the time range it covers, so a read over a range opens
only the blobs that overlap it. A batch row is inserted only after its blob
is stored; ``(project_id, deployment, digest)`` is unique, so a retried
insert whose first attempt did commit changes nothing.

``prediction_labels`` holds the labels posted later by request id, one per
request and overwritten by a later post. They are kept apart from the
predictions (no per-request index rows) and joined at export time; a label
may arrive before its prediction is flushed, or for a request never logged.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kiln.db._base import Base, BigIntId, utcnow

DEPLOYMENT_LENGTH = 128
REQUEST_ID_LENGTH = 128


class PredictionBatchRow(Base):
    """One Parquet blob of logged predictions of a deployment, and the times it covers."""

    __tablename__ = "prediction_batches"
    __table_args__ = (
        UniqueConstraint("project_id", "deployment", "digest"),
        Index("ix_prediction_batches_last_time", "project_id", "deployment", "last_time"),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    deployment: Mapped[str] = mapped_column(String(DEPLOYMENT_LENGTH))
    #: The blob's SHA-256 in the artifact store.
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    #: Requests in the blob (its Parquet rows).
    rows: Mapped[int] = mapped_column(Integer)
    #: Input rows over those requests (a request may carry several).
    input_rows: Mapped[int] = mapped_column(BigInteger)
    #: The earliest and latest request time in the blob.
    first_time: Mapped[datetime] = mapped_column()
    last_time: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PredictionLabelRow(Base):
    """The ground-truth label of one logged request (a JSON scalar, or a list per input row)."""

    __tablename__ = "prediction_labels"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    deployment: Mapped[str] = mapped_column(String(DEPLOYMENT_LENGTH), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(REQUEST_ID_LENGTH), primary_key=True)
    #: The label as JSON text.
    label: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentRow(Base):
    """A named endpoint of a project: its current traffic policy, revision and bandit state.

    ``policy`` is ``kiln.serving.TrafficPolicy.to_dict()`` as JSON; every
    change makes a new ``revision`` (a ``deployment_events`` row keeps each),
    and a server watching the deployment reloads when the revision moves.
    """

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(DEPLOYMENT_LENGTH))
    description: Mapped[str] = mapped_column(Text, default="")
    policy: Mapped[str] = mapped_column(Text)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    #: The bandit's counts and posteriors (JSON) as a server last saved them; "" for splits.
    bandit_state: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentEventRow(Base):
    """One revision of a deployment's policy: who set it, when, why (create, set, rollback)."""

    __tablename__ = "deployment_events"
    __table_args__ = (UniqueConstraint("deployment_id", "revision"),)

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    policy: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(256), default="")
