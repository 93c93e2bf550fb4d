"""``/api/v1/labeling/{name}/…``: a model's opinion of a labeling project's tasks.

Four verbs over ``kiln.labeling``'s services, for editors (each changes
tasks: their pre-annotations, their place in the queue, the review queue,
new tasks):

- ``preannotate``: a registered model labels the open tasks; every
  prediction the schema refuses is listed with the reason, never dropped;
- ``next-batch``: the ``k`` unanswered tasks the model is least sure of go
  to the front of the queue (active learning);
- ``label-errors``: confident learning sends likely wrong labels to the
  review queue, with a registered model's estimator refitted or a default;
- ``intake``: a deployment's answers less sure than ``threshold`` in a
  window of its prediction log become tasks, once.

Models are named by registry URI only (``models:/name@alias``), looked up
in the request's project; an unknown one is a 404 naming ``model``.

They run inline in the server's thread pool, so other requests go on
meanwhile. Each is bounded: ``preannotate`` and ``next-batch`` ask the model
about at most ``POOL`` (20,000) open tasks, the newest; ``label-errors``
fits ``folds`` models on the project's answered tasks; ``intake`` reads the
given window of the log (give ``since``: without it the whole log is read).
Larger jobs belong in ``kiln labeling …`` next to the store or a pipeline.
"""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kiln.labeling._estimators import flag_with, registered_model
from kiln.labeling._hitl import intake_low_confidence
from kiln.labeling._model_labels import next_batch, preannotate
from kiln.labeling._projects import NAME_LENGTH
from kiln.labeling._ui_support import task_view
from kiln.server.api.labeling import is_reviewer
from kiln.server.deps import ContextDep, Editor, RequestProject
from kiln.server.middleware import note_audit_target
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/labeling", tags=["labeling"])

NamePath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]
#: Tasks one ``next-batch`` call may put first (and return).
MAX_BATCH = 1000
MODEL_HELP = "A registered model: models:/name@alias, models:/name/3 or models:/name/latest."


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Preannotate(_Body):
    model: str = Field(min_length=1, max_length=600, description=MODEL_HELP)


class NextBatch(_Body):
    model: str = Field(min_length=1, max_length=600, description=MODEL_HELP)
    k: int = Field(ge=1, le=MAX_BATCH, description="Tasks to pick.")
    strategy: Literal["least_confidence", "margin", "entropy", "random"] = "margin"
    diversity: bool = Field(default=False, description="Spread over the numeric fields.")
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1, description="For random.")


class LabelErrors(_Body):
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=600,
        description=MODEL_HELP + " Its estimator is refitted; default: logistic regression.",
    )
    folds: int = Field(default=5, ge=2, le=20, description="Cross-validation folds.")


class Intake(_Body):
    deployment: str = Field(min_length=1, max_length=128)
    threshold: float = Field(gt=0, le=1, description="Answers less sure than this become tasks.")
    since: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone.")
    until: AwareDatetime | None = Field(default=None, description="ISO 8601 with a zone.")
    score_output: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The logged output holding the confidence; default: the model's own.",
    )
    prediction_output: str = Field(default="predictions", min_length=1, max_length=256)


@router.post("/{name}/preannotate")
def preannotate_tasks(
    name: NamePath,
    body: Preannotate,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Give the open tasks the model's label and score; ``rejected`` lists every refusal."""
    note_audit_target(request.scope, model=body.model)
    scoped = context.for_project(project)
    done = preannotate(scoped, project, name, registered_model(scoped, body.model))
    return JSONResponse(
        {
            "model": done.model,
            "applied": done.applied,
            "rejected": [
                {
                    "task_id": r.task_id,
                    "item_key": r.item_key,
                    "prediction": r.prediction,
                    "reason": r.reason,
                }
                for r in done.rejected
            ],
        }
    )


@router.post("/{name}/next-batch")
def next_batch_of_tasks(
    name: NamePath,
    body: NextBatch,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """The ``k`` unanswered tasks the model doubts most, now first in the queue, in that order."""
    note_audit_target(request.scope, model=body.model)
    scoped = context.for_project(project)
    picked = next_batch(
        scoped,
        project,
        name,
        registered_model(scoped, body.model),
        body.k,
        strategy=body.strategy,
        diversity=body.diversity,
        seed=body.seed,
    )
    reviewer = is_reviewer(caller, project)
    return JSONResponse(
        {"tasks": [task_view(t, viewer=caller.user, reviewer=reviewer) for t in picked]}
    )


@router.post("/{name}/label-errors")
def label_errors(
    name: NamePath,
    body: LabelErrors,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Send the answered tasks whose label is likely wrong to review; their ids, likeliest first."""
    note_audit_target(request.scope, model=body.model)
    scoped = context.for_project(project)
    flagged = flag_with(scoped, project, name, body.model, folds=body.folds)
    return JSONResponse(
        {
            "flagged": flagged,
            "model": body.model,
            "folds": body.folds,
            "review_url": f"/labeling/{quote(name, safe='')}/review",
        }
    )


@router.post("/{name}/intake")
def intake(
    name: NamePath,
    body: Intake,
    request: Request,
    context: ContextDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Read the deployment's log in ``[since, until)`` now: its unsure answers become tasks.

    Counts: ``requests`` answered, their ``rows``, ``unsure`` ones, tasks
    ``added`` (a row read before adds nothing), rows ``unscored``.
    """
    note_audit_target(request.scope, deployment=body.deployment)
    found = intake_low_confidence(
        context.for_project(project),
        project,
        name,
        body.deployment,
        threshold=body.threshold,
        since=body.since,
        until=body.until,
        score_output=body.score_output,
        prediction_output=body.prediction_output,
    )
    return JSONResponse(
        {
            "requests": found.requests,
            "rows": found.rows,
            "unsure": found.unsure,
            "added": found.added,
            "unscored": found.unscored,
        }
    )
