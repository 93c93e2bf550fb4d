"""``/api/v1/projects``: projects and their members."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from kiln import auth
from kiln.auth import Member, Project, Role
from kiln.server.deps import Caller, DbDep, ProjectAdmin, Viewer
from kiln.server.middleware import note_audit_target

router = APIRouter(prefix="/projects", tags=["projects"])


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="1-64 lowercase letters, digits, '-' or '_'.")
    description: str = ""


class ProjectUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str | None = None


class MemberSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role


@router.get("")
def list_projects(db: DbDep, caller: Caller) -> list[Project]:
    """Projects the caller can see."""
    return db.read(auth.visible_projects, caller)


@router.post("", status_code=201)
def create_project(body: ProjectCreate, request: Request, db: DbDep, caller: Caller) -> Project:
    """Create a project (administrators); the creator becomes its admin."""
    note_audit_target(request.scope, project=body.name)
    return db.run(auth.create_project_as, caller, body.name, body.description)


@router.get("/{project}")
def get_project(project: str, db: DbDep, caller: Viewer) -> Project:
    return db.read(auth.get_project, project)


@router.patch("/{project}")
def update_project(project: str, body: ProjectUpdate, db: DbDep, caller: ProjectAdmin) -> Project:
    return db.run(auth.update_project, project, description=body.description)


@router.delete("/{project}", status_code=204)
def delete_project(project: str, db: DbDep, caller: Caller) -> Response:
    """Delete a project with its memberships and tokens (administrators)."""
    auth.require_site_admin(caller, "delete projects")
    db.run(auth.delete_project, project)
    return Response(status_code=204)


@router.get("/{project}/members")
def list_members(project: str, db: DbDep, caller: Viewer) -> list[Member]:
    return db.read(auth.list_members, project)


@router.put("/{project}/members/{user}")
def set_member(
    project: str, user: str, body: MemberSet, request: Request, db: DbDep, caller: ProjectAdmin
) -> Member:
    """Add ``user`` to the project, or change their role."""
    note_audit_target(request.scope, role=body.role.value)
    return db.run(auth.set_member, project, user, body.role)


@router.delete("/{project}/members/{user}", status_code=204)
def remove_member(project: str, user: str, db: DbDep, caller: ProjectAdmin) -> Response:
    db.run(auth.remove_member, project, user)
    return Response(status_code=204)
