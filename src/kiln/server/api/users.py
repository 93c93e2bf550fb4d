"""``/api/v1/users``: accounts (administered by Kiln administrators)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from kiln import auth
from kiln.auth import User
from kiln.server.deps import Caller, DbDep
from kiln.server.middleware import note_audit_target

router = APIRouter(prefix="/users", tags=["users"])


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(description="1-128 letters, digits, '.', '_', '-', '+' or '@'.")
    email: str | None = None
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: str | None = None
    is_admin: bool | None = None
    disabled: bool | None = None


@router.get("")
def list_users(db: DbDep, caller: Caller) -> list[User]:
    auth.require_site_admin(caller, "list users")
    return db.read(auth.list_users)


@router.post("", status_code=201)
def create_user(body: UserCreate, request: Request, db: DbDep, caller: Caller) -> User:
    note_audit_target(request.scope, user=body.name, admin=body.is_admin or None)
    auth.require_site_admin(caller, "create users")
    return db.run(auth.create_user, body.name, email=body.email, is_admin=body.is_admin)


@router.get("/me")
def whoami(caller: Caller) -> auth.Principal:
    """The caller: user, project, role and token id."""
    return caller


@router.get("/{name}")
def get_user(name: str, db: DbDep, caller: Caller) -> User:
    return db.read(auth.user_as, caller, name)


@router.patch("/{name}")
def update_user(name: str, body: UserUpdate, db: DbDep, caller: Caller) -> User:
    """Change a user's e-mail, admin flag, or disable them (their tokens stop working)."""
    auth.require_site_admin(caller, "change users")
    return db.run(
        auth.update_user, name, email=body.email, is_admin=body.is_admin, disabled=body.disabled
    )
