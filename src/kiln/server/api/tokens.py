"""``/api/v1/tokens``: issue, list and revoke API tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from kiln import auth
from kiln.auth import ApiToken, NewToken, Role
from kiln.db import utcnow
from kiln.errors import InvalidInput
from kiln.server.deps import Caller, DbDep
from kiln.server.middleware import note_audit_target

router = APIRouter(prefix="/tokens", tags=["tokens"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="", max_length=128)
    user: str | None = Field(default=None, description="Default: the caller.")
    project: str | None = Field(default=None, description="Default: the caller's project.")
    role: Role | None = Field(default=None, description="Default: the caller's role there.")
    expires_at: AwareDatetime | None = None
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)


@router.post("", status_code=201)
def create_token(body: TokenCreate, request: Request, db: DbDep, caller: Caller) -> NewToken:
    """Issue a token. Its secret is in this response only; Kiln keeps just its hash."""
    note_audit_target(request.scope, user=body.user or caller.user, project=body.project)
    expires_at: datetime | None = body.expires_at
    if body.expires_in_days is not None:
        if expires_at is not None:
            raise InvalidInput(
                "give expires_at or expires_in_days, not both", field="expires_in_days"
            )
        expires_at = utcnow() + timedelta(days=body.expires_in_days)
    new = db.run(
        auth.issue_token,
        caller,
        user=body.user,
        project=body.project,
        role=body.role,
        name=body.name,
        expires_at=expires_at,
    )
    note_audit_target(request.scope, token=new.token.id, role=new.token.role.value)
    return new


@router.get("")
def list_tokens(
    db: DbDep,
    caller: Caller,
    project: str | None = None,
    user: str | None = None,
    include_revoked: bool = False,
) -> list[ApiToken]:
    """The caller's tokens; a project admin may pass ``project`` to see everyone's."""
    if user is None and project is None:
        user = caller.user
    return db.read(
        auth.visible_tokens, caller, project=project, user=user, include_revoked=include_revoked
    )


@router.get("/{token_id}")
def get_token(token_id: str, db: DbDep, caller: Caller) -> ApiToken:
    return db.read(auth.token_as, caller, token_id)


@router.delete("/{token_id}")
def revoke_token(token_id: str, db: DbDep, caller: Caller) -> ApiToken:
    """Revoke a token; it is refused from the next request on."""
    return db.run(auth.revoke_token_as, caller, token_id)
