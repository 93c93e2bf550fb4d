"""Projects, users, memberships and tokens on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kiln import auth
from kiln.auth import Role
from kiln.db import Database, utcnow
from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)


@pytest.fixture
def team(db: Database) -> Database:
    """A project 'fraud' with an admin, an editor and a viewer, plus a site admin."""
    db.run(auth.create_project, "fraud", "card fraud")
    db.run(auth.create_user, "root", is_admin=True)
    for name, role in (("ada", "admin"), ("eve", "editor"), ("vic", "viewer")):
        db.run(auth.create_user, name, email=f"{name}@example.com")
        db.run(auth.set_member, "fraud", name, role)
    return db


class TestProjects:
    def test_default_project_exists_from_the_start(self, db: Database) -> None:
        assert [p.name for p in db.read(auth.list_projects)] == ["default"]

    def test_create_get_update_delete(self, db: Database) -> None:
        created = db.run(auth.create_project, "churn", "churn model")
        assert created.name == "churn"
        assert created.created_at.tzinfo is not None
        assert db.read(auth.get_project, "churn").description == "churn model"
        assert db.run(auth.update_project, "churn", description="v2").description == "v2"
        db.run(auth.delete_project, "churn")
        with pytest.raises(NotFound, match="churn"):
            db.read(auth.get_project, "churn")

    def test_duplicate_name(self, db: Database) -> None:
        db.run(auth.create_project, "churn")
        with pytest.raises(AlreadyExists, match="churn") as caught:
            db.run(auth.create_project, "churn")
        assert caught.value.field == "name"

    @pytest.mark.parametrize("bad", ["", "Upper", "has space", "-dash", "x" * 65, "a/b", "é"])
    def test_invalid_names(self, db: Database, bad: str) -> None:
        with pytest.raises(InvalidInput, match="project name"):
            db.run(auth.create_project, bad)

    def test_default_cannot_be_deleted(self, db: Database) -> None:
        with pytest.raises(Conflict):
            db.run(auth.delete_project, "default")

    def test_deleting_a_project_removes_members_and_tokens(self, team: Database) -> None:
        token = team.run(auth.create_token, "eve", "fraud")
        team.run(auth.delete_project, "fraud")
        with pytest.raises(NotFound):
            team.read(auth.get_token, token.token.id)
        with pytest.raises(Unauthenticated):
            team.read(auth.authenticate, token.secret)

    def test_ensure_project_is_idempotent(self, db: Database) -> None:
        first = db.run(auth.ensure_project, "demo", "x")
        assert db.run(auth.ensure_project, "demo", "y") == first

    def test_members_see_only_their_projects(self, team: Database) -> None:
        team.run(auth.create_project, "other")
        assert [p.name for p in team.read(auth.list_projects, member="vic")] == ["fraud"]


class TestUsersAndMembers:
    def test_create_and_list(self, team: Database) -> None:
        names = [u.name for u in team.read(auth.list_users)]
        assert names == ["ada", "eve", "root", "vic"]
        assert team.read(auth.get_user, "root").is_admin

    def test_duplicate_and_invalid(self, team: Database) -> None:
        with pytest.raises(AlreadyExists):
            team.run(auth.create_user, "ada")
        with pytest.raises(InvalidInput, match="user name"):
            team.run(auth.create_user, "no spaces please")
        with pytest.raises(InvalidInput, match="e-mail"):
            team.run(auth.create_user, "bob", email="not-an-email")

    def test_roles(self, team: Database) -> None:
        members = {m.user: m.role for m in team.read(auth.list_members, "fraud")}
        assert members == {"ada": Role.ADMIN, "eve": Role.EDITOR, "vic": Role.VIEWER}
        team.run(auth.set_member, "fraud", "vic", "editor")
        assert team.read(auth.member_role, "fraud", "vic") is Role.EDITOR
        team.run(auth.remove_member, "fraud", "vic")
        assert team.read(auth.member_role, "fraud", "vic") is None
        with pytest.raises(NotFound):
            team.run(auth.remove_member, "fraud", "vic")
        with pytest.raises(InvalidInput, match="viewer, editor, admin"):
            team.run(auth.set_member, "fraud", "eve", "owner")

    def test_role_order(self) -> None:
        assert Role.ADMIN.allows(Role.EDITOR)
        assert Role.EDITOR.allows(Role.VIEWER)
        assert not Role.VIEWER.allows(Role.EDITOR)


class TestTokens:
    def test_secret_is_returned_once_and_stored_hashed(self, team: Database) -> None:
        from sqlalchemy import select

        from kiln.db.tables import ApiTokenRow

        new = team.run(auth.create_token, "eve", "fraud", name="ci")
        assert new.secret.startswith(f"kiln_{new.token.id}_")
        assert len(new.secret) > 40
        stored = team.read(lambda s: s.scalars(select(ApiTokenRow.secret_hash)).all())
        assert new.secret not in stored
        assert auth.ApiToken.__dataclass_fields__.keys().isdisjoint({"secret", "secret_hash"})

    def test_authenticate(self, team: Database) -> None:
        new = team.run(auth.create_token, "eve", "fraud")
        principal = team.read(auth.authenticate, new.secret)
        assert (principal.user, principal.project, principal.role) == ("eve", "fraud", Role.EDITOR)
        assert principal.token_id == new.token.id

    def test_role_defaults_to_and_may_not_exceed_membership(self, team: Database) -> None:
        assert team.run(auth.create_token, "vic", "fraud").token.role is Role.VIEWER
        assert team.run(auth.create_token, "eve", "fraud", "viewer").token.role is Role.VIEWER
        with pytest.raises(PermissionDenied, match="cannot hold"):
            team.run(auth.create_token, "vic", "fraud", "admin")
        with pytest.raises(InvalidInput, match="not a member"):
            team.run(auth.create_token, "vic", "default")
        assert team.run(auth.create_token, "root", "default").token.role is Role.ADMIN

    def test_demotion_caps_existing_tokens(self, team: Database) -> None:
        new = team.run(auth.create_token, "eve", "fraud")
        team.run(auth.set_member, "fraud", "eve", "viewer")
        assert team.read(auth.authenticate, new.secret).role is Role.VIEWER
        team.run(auth.remove_member, "fraud", "eve")
        with pytest.raises(PermissionDenied, match="no longer a member"):
            team.read(auth.authenticate, new.secret)

    def test_revoked_expired_disabled_and_unknown_tokens_fail(self, team: Database) -> None:
        revoked = team.run(auth.create_token, "eve", "fraud")
        team.run(auth.revoke_token, revoked.token.id)
        team.run(auth.revoke_token, revoked.token.id)  # twice is harmless
        with pytest.raises(Unauthenticated, match="revoked"):
            team.read(auth.authenticate, revoked.secret)

        soon = team.run(
            auth.create_token, "eve", "fraud", expires_at=utcnow() + timedelta(milliseconds=200)
        )
        import time

        time.sleep(0.3)
        with pytest.raises(Unauthenticated, match="expired"):
            team.read(auth.authenticate, soon.secret)

        disabled = team.run(auth.create_token, "vic", "fraud")
        team.run(auth.update_user, "vic", disabled=True)
        with pytest.raises(Unauthenticated, match="disabled"):
            team.read(auth.authenticate, disabled.secret)
        with pytest.raises(Conflict, match="disabled"):
            team.run(auth.create_token, "vic", "fraud")

        with pytest.raises(Unauthenticated, match="not valid"):
            team.read(auth.authenticate, "kiln_000000000000_forged")
        with pytest.raises(Unauthenticated, match="start with kiln_"):
            team.read(auth.authenticate, "Basic abc")

    def test_expiry_in_the_past_is_refused(self, team: Database) -> None:
        with pytest.raises(InvalidInput, match="past"):
            team.run(auth.create_token, "eve", "fraud", expires_at=utcnow() - timedelta(days=1))

    def test_list_and_last_used(self, team: Database) -> None:
        a = team.run(auth.create_token, "eve", "fraud", name="a")
        b = team.run(auth.create_token, "ada", "fraud", name="b")
        team.run(auth.revoke_token, b.token.id)
        assert [t.id for t in team.read(auth.list_tokens, project="fraud")] == [a.token.id]
        assert len(team.read(auth.list_tokens, project="fraud", include_revoked=True)) == 2
        assert team.read(auth.list_tokens, user="ada") == []
        team.run(auth.record_token_use, a.token.id)
        first = team.read(auth.get_token, a.token.id).last_used_at
        assert first is not None
        team.run(auth.record_token_use, a.token.id)  # within a minute: not rewritten
        assert team.read(auth.get_token, a.token.id).last_used_at == first


class TestGuardedCalls:
    def principal(self, team: Database, user: str, project: str = "fraud") -> auth.Principal:
        return team.read(auth.authenticate, team.run(auth.create_token, user, project).secret)

    def test_only_site_admins_create_projects(self, team: Database) -> None:
        with pytest.raises(PermissionDenied, match="administrators"):
            team.run(auth.create_project_as, self.principal(team, "ada"), "new")
        root = self.principal(team, "root", "default")
        team.run(auth.create_project_as, root, "new")
        assert team.read(auth.member_role, "new", "root") is Role.ADMIN

    def test_tokens_for_others_need_project_admin(self, team: Database) -> None:
        eve = self.principal(team, "eve")
        with pytest.raises(PermissionDenied, match="needs admin"):
            team.run(auth.issue_token, eve, user="vic")
        ada = self.principal(team, "ada")
        assert team.run(auth.issue_token, ada, user="vic").token.user == "vic"

    def test_no_escalation_and_no_scope_escape(self, team: Database) -> None:
        vic = self.principal(team, "vic")
        with pytest.raises(PermissionDenied, match="cannot issue"):
            team.run(auth.issue_token, vic, role="editor")
        assert team.run(auth.issue_token, vic).token.role is Role.VIEWER
        with pytest.raises(PermissionDenied, match="scoped to 'fraud'"):
            team.run(auth.issue_token, vic, project="default")

    def test_others_tokens_are_invisible(self, team: Database) -> None:
        ada_token = team.run(auth.create_token, "ada", "fraud")
        vic = self.principal(team, "vic")
        with pytest.raises(NotFound):
            team.read(auth.token_as, vic, ada_token.token.id)
        with pytest.raises(NotFound):
            team.run(auth.revoke_token_as, vic, ada_token.token.id)
        with pytest.raises(PermissionDenied):
            team.read(auth.visible_tokens, vic, project="fraud")
        ada = self.principal(team, "ada")
        assert team.run(auth.revoke_token_as, ada, ada_token.token.id).revoked_at is not None

    def test_visible_projects(self, team: Database) -> None:
        team.run(auth.create_project, "secret")
        vic = self.principal(team, "vic")
        assert [p.name for p in team.read(auth.visible_projects, vic)] == ["fraud"]
        root = self.principal(team, "root", "default")
        assert {p.name for p in team.read(auth.visible_projects, root)} >= {"secret", "fraud"}


def test_over_long_labels_and_emails_are_refused(team: Database) -> None:
    with pytest.raises(InvalidInput, match="limit is 128"):
        team.run(auth.create_token, "eve", "fraud", name="x" * 129)
    with pytest.raises(InvalidInput, match="e-mail"):
        team.run(auth.create_user, "long", email="a@" + "b" * 300)
    with pytest.raises(InvalidInput, match="e-mail"):
        team.run(auth.update_user, "eve", email="has space@example.com")
