"""Who is looking at a page, in which project, and what they may do there.

The UI authenticates exactly as the API does (``kiln.server.deps``): with auth
off the local user is admin everywhere; with auth on the token comes from the
login cookie. The project is ``?project=``, else the ``kiln_project`` cookie
the project switcher sets, else the token's (or server's default) project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from kiln.auth import Principal, Role, list_projects, role_in
from kiln.server.deps import Caller, DbDep, get_context

PROJECT_COOKIE = "kiln_project"


@dataclass(frozen=True, slots=True)
class Viewing:
    """The caller, the project of the page, and their role there (``None``: no access)."""

    caller: Principal
    project: str
    role: Role | None
    auth: bool

    @property
    def can_edit(self) -> bool:
        return self.role is not None and self.role.allows(Role.EDITOR)

    @property
    def can_read(self) -> bool:
        return self.role is not None


def get_viewing(request: Request, caller: Caller) -> Viewing:
    project = (
        request.query_params.get("project") or request.cookies.get(PROJECT_COOKIE) or caller.project
    )
    auth = get_context(request).settings.auth
    if caller.scoped:  # a token acts in its own project only
        project = caller.project
    return Viewing(caller, project, role_in(caller, project), auth)


ViewingDep = Annotated[Viewing, Depends(get_viewing)]


def projects_for(db: DbDep, viewing: Viewing) -> list[str]:
    """The projects the switcher offers: all of them, or the token's own."""
    if viewing.caller.scoped:
        return [viewing.caller.project]
    return [project.name for project in db.read(list_projects)]


def get_reader(viewing: ViewingDep) -> Viewing:
    """The viewing of a page that shows project data: viewer at least, else 403."""
    from kiln.auth import require_role

    require_role(viewing.caller, viewing.project, Role.VIEWER)
    return viewing


Reader = Annotated[Viewing, Depends(get_reader)]
