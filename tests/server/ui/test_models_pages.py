"""The Models pages, server side: what they show, paging, filters, errors and roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import httpx
import pytest
from fastapi import FastAPI

from kiln import auth
from kiln.context import Context
from kiln.models import ColumnSpec, FileEntry, InfraNeeds, Manifest, Signature
from kiln.registry import _aliases, _gates, _models, _versions
from kiln.server import create_app
from kiln.server.ui.pages import models as models_page

PROJECT = "default"
GATE = [
    {"name": "auc-floor", "type": "metric_threshold", "metric": "auc", "op": ">=", "value": 0.9}
]


def _manifest() -> Manifest:
    return Manifest(
        flavor="sklearn",
        serialization="skops",
        files=(FileEntry("model.skops", "0" * 64, 2048),),
        requirements=("scikit-learn==1.5.2", "skops==0.10"),
        python_version="3.11.7",
        kiln_version="0.1.0",
        created_at="2026-01-02T03:04:05+00:00",
        infra=InfraNeeds(),
        signature=Signature((ColumnSpec("amount", "float64"),), (ColumnSpec("fraud", "int64"),)),
    )


def _seed(context: Context) -> None:
    """``fraud`` v1 to v3 (v3's manifest in the store), aliases with a gate and history."""
    db = context.db
    blob = context.artifacts.put_bytes(_manifest().to_yaml().encode())
    for number in (1, 2, 3):
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            f"/models/fraud/{number}",
            create_model=True,
            require_manifest=False,
            manifest_sha256=blob.digest if number == 3 else None,
            flavor="sklearn",
            user="ada",
            tags={"team": "risk"} if number == 3 else None,
        )
    db.run(_models.update_registered_model, PROJECT, "fraud", description="Card fraud.")
    db.run(_aliases.set_alias, PROJECT, "fraud", "challenger", 1, actor="ada")
    db.run(_aliases.set_alias, PROJECT, "fraud", "challenger", 2, actor="bob", note="better")
    db.run(_gates.set_gate, PROJECT, "fraud", "champion", GATE)
    # v1's source has no run: the metric check cannot pass, so only force moves it.
    db.run(_aliases.set_alias, PROJECT, "fraud", "champion", 1, actor="root", force=True)
    db.run(_models.create_registered_model, PROJECT, "o'brien model")


Serve = Callable[[Context | FastAPI], httpx.Client]


@pytest.fixture
def client(make_context: Callable[..., Context], serve: Serve) -> httpx.Client:
    """A live server (auth off) over a seeded store."""
    context = make_context()
    _seed(context)
    return serve(create_app(context))


def _text(html: str) -> str:
    """The page's text, tags dropped and spaces collapsed, for simple assertions."""
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def test_models_list_shows_models_with_their_aliases(client: httpx.Client) -> None:
    response = client.get("/models")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'href="/models/fraud"' in html
    assert 'href="/models/o%27brien%20model"' in html
    assert "@challenger v2" in html
    assert "@champion v1" in html
    assert 'href="/models/fraud/versions/3"' in html  # the latest version
    assert "Card fraud." in html


def test_models_list_filters_with_the_registry_language(client: httpx.Client) -> None:
    found = client.get("/models", params={"q": "name LIKE 'o''b%'"})
    assert found.status_code == 200
    assert "o'brien model" in _text(found.text)
    assert 'href="/models/fraud"' not in found.text
    none = client.get("/models", params={"q": "name = 'nothing'"})
    assert "No registered model matches" in none.text


def test_a_bad_filter_is_a_400_page_that_keeps_the_filter(client: httpx.Client) -> None:
    response = client.get("/models", params={"q": "name ==="})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text
    assert "Filter refused" in response.text
    assert 'value="name ==="' in response.text
    partial = client.get("/models", params={"q": "nope = 1"}, headers={"X-Kiln-Partial": "1"})
    assert partial.status_code == 400
    assert "<html" not in partial.text
    assert "Filter refused" in partial.text
    bad_order = client.get("/models", params={"order": "sideways"})
    assert bad_order.status_code == 400
    assert "order" in bad_order.text


def test_models_list_pages_forward_and_back(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models_page, "PAGE_SIZE", 1)
    first = client.get("/models")
    assert "page 1 · 1-1" in _text(first.text)
    next_url = re.search(r'href="([^"]+)" data-partial rel="next"', first.text)
    assert next_url is not None
    second = client.get(next_url.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "page 2 · 2-2" in _text(second.text)
    assert 'href="/models/o%27brien%20model"' in second.text
    assert 'rel="next"' not in second.text  # the last page
    back = re.search(r'href="([^"]+)" data-partial rel="prev"', second.text)
    assert back is not None
    again = client.get(back.group(1).replace("&amp;", "&"))
    assert 'href="/models/fraud"' in again.text
    assert "page 1" in again.text
    partial = client.get("/models", headers={"X-Kiln-Partial": "1"})
    assert "<html" not in partial.text
    assert 'rel="next"' in partial.text
    stale = client.get("/models", params={"page_token": "not-a-token"})
    assert stale.status_code == 400
    assert "page_token" in stale.text


def test_model_page_shows_versions_aliases_gates_and_history(client: httpx.Client) -> None:
    response = client.get("/models/fraud")
    assert response.status_code == 200
    text = _text(response.text)
    for version in (1, 2, 3):
        assert f'href="/models/fraud/versions/{version}"' in response.text
    assert "auc-floor : auc >= 0.9" in text  # the champion's gate
    assert "forced" in text
    assert "failed auc-floor" in text
    assert "better" in text
    assert "bob" in text
    # Roll back goes where the API's rollback would: challenger 2 → 1, champion → unset.
    assert 'aria-label="Roll back to v1 (@challenger)"' in response.text
    assert 'aria-label="Roll back to unset (@champion)"' in response.text
    assert 'data-api="/api/v1/registered-models/fraud/aliases/{alias}"' in response.text
    assert 'name="force"' in response.text  # auth off: the local user is admin

    only = client.get("/models/fraud", params={"alias": "champion"})
    assert "better" not in _text(only.text)


def test_unknown_model_and_version_are_404_pages(client: httpx.Client) -> None:
    for path in ("/models/nope", "/models/fraud/versions/9", "/models/nope/versions/1"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text
    assert client.get("/models/fraud/versions/abc").status_code == 400


def test_version_page_shows_source_digest_manifest_and_tags(client: httpx.Client) -> None:
    response = client.get("/models/fraud/versions/3")
    assert response.status_code == 200
    text = _text(response.text)
    version = client.get("/api/v1/registered-models/fraud/versions/3").json()
    assert version["manifest_sha256"] in text
    assert "/models/fraud/3" in text
    assert "sklearn" in text
    assert "team risk" in text
    assert "scikit-learn==1.5.2" in text
    assert "amount float64" in text
    assert "fraud int64" in text
    latest = client.get("/models/fraud/versions/latest")
    assert latest.status_code == 200
    assert "version 3" in _text(latest.text)
    plain = client.get("/models/fraud/versions/1")
    assert "registered without a Kiln manifest" in plain.text
    assert "@champion" in plain.text
    assert "forced" in plain.text


def test_viewers_get_no_mutating_controls(
    make_context: Callable[..., Context], serve: Serve
) -> None:
    context = make_context(auth=True)
    _seed(context)
    db = context.db
    secrets = {}
    for user, role in (("vic", "viewer"), ("eve", "editor")):
        db.run(auth.create_user, user)
        db.run(auth.set_member, PROJECT, user, role)
        secrets[user] = db.run(auth.create_token, user, PROJECT).secret
    client = serve(create_app(context))
    assert client.get("/models/fraud").status_code == 303  # to the login page
    pages = ("/models/fraud", "/models/fraud/versions/2")
    client.cookies.set("kiln_session", secrets["vic"])
    for path in pages:
        page = client.get(path)
        assert page.status_code == 200, path
        assert "data-api" not in page.text, path
    refused = client.post(
        "/api/v1/registered-models/fraud/aliases/challenger/rollback",
        json={},
        headers={"X-Kiln-UI": "1"},
    )
    assert refused.status_code == 403
    client.cookies.set("kiln_session", secrets["eve"])
    for path in pages:
        page = client.get(path)
        assert "data-api" in page.text, path
        assert 'name="force"' not in page.text, path
