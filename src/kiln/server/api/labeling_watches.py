"""``/api/v1/labeling/{name}/watches``: the deployments whose unsure answers become tasks.

Viewers list a project's watches; editors add, change or remove them (a
watch only makes tasks, as an editor may). ``PUT`` is idempotent: it
watches the deployment, or changes the threshold and outputs of the watch
there is. Model servers of the deployment pick a change up within
``kiln.labeling._watches.REFRESH_SECONDS``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from kiln.labeling._projects import NAME_LENGTH
from kiln.labeling._watches import (
    OUTPUT_LENGTH,
    list_watches,
    unwatch_deployment,
    watch_deployment,
)
from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.responses import JSONResponse

router = APIRouter(prefix="/labeling", tags=["labeling"])

NamePath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]
DeploymentPath = Annotated[str, Path(min_length=1, max_length=128)]


class WatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    threshold: float = Field(gt=0, le=1, description="Rows less confident than this become tasks.")
    score_output: str | None = Field(
        default=None,
        min_length=1,
        max_length=OUTPUT_LENGTH,
        description="The output holding the confidence; null: the model's predict_proba.",
    )
    prediction_output: str = Field(
        default="predictions",
        min_length=1,
        max_length=OUTPUT_LENGTH,
        description="The output holding the answer, shown as the pre-annotation.",
    )


@router.get("/{name}/watches")
def watches(name: NamePath, db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The deployments the labeling project watches, with what each watch has added."""
    found = db.read(list_watches, project, name)
    return JSONResponse({"watches": [watch.to_dict() for watch in found]})


@router.put("/{name}/watches/{deployment}")
def watch(
    name: NamePath,
    deployment: DeploymentPath,
    body: WatchBody,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> JSONResponse:
    """Watch the deployment (404 naming ``deployment`` when there is none)."""
    made = db.run(
        watch_deployment,
        project,
        name,
        deployment,
        threshold=body.threshold,
        score_output=body.score_output,
        prediction_output=body.prediction_output,
        user=caller.user,
    )
    return JSONResponse(made.to_dict())


@router.delete("/{name}/watches/{deployment}", status_code=204)
def unwatch(
    name: NamePath,
    deployment: DeploymentPath,
    db: DbDep,
    caller: Editor,
    project: RequestProject,
) -> Response:
    """Stop watching the deployment; the tasks it added stay (404 when it was not watched)."""
    db.run(unwatch_deployment, project, name, deployment)
    return Response(status_code=204)
