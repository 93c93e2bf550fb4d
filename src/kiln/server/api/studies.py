"""``/api/v1/studies``: hyperparameter studies (``kiln.tune``), read and deleted.

Viewers list the project's studies (newest first, with trial counts per
state and the best trial, or the Pareto front with several directions) and
read one with its trials, the importances and the report's file recorded on
the study's run (``?trials=false`` leaves the trials out). Editors delete a
study and its trials; the trials' runs and the study's run stay. Studies are
made by ``kiln.tune``, which runs the trials, so there is no POST.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from kiln.server.deps import DbDep, Editor, RequestProject, Viewer
from kiln.server.responses import JSONResponse
from kiln.training._studies import NAME_LENGTH, delete_study, list_studies
from kiln.training._study_details import describe_study

router = APIRouter(prefix="/studies", tags=["training"])

StudyPath = Annotated[str, Path(min_length=1, max_length=NAME_LENGTH)]


@router.get("")
def list_all(db: DbDep, caller: Viewer, project: RequestProject) -> JSONResponse:
    """The project's studies, newest first: directions, trials per state, best trial(s)."""
    found = db.read(list_studies, project)
    studies = []
    for summary in found:
        body = summary.to_dict()
        del body["trials"]  # a list holds counts and the best, never every trial
        studies.append(body)
    return JSONResponse({"studies": studies})


@router.get("/{study}")
def describe(
    study: StudyPath,
    db: DbDep,
    caller: Viewer,
    project: RequestProject,
    trials: Annotated[bool, Query(description="false: leave the trials out")] = True,
) -> JSONResponse:
    """The study with its trials, importances per objective and the report on its run."""
    found = db.read(describe_study, project, study, trials=trials)
    return JSONResponse(found.to_dict())


@router.delete("/{study}", status_code=204)
def delete(study: StudyPath, db: DbDep, caller: Editor, project: RequestProject) -> Response:
    """Delete the study and its trials; the trials' runs and the study's run stay."""
    db.run(delete_study, project, study)
    return Response(status_code=204)
