"""Registered models and versions through the services, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading

import pytest

from kiln.db import Database
from kiln.errors import AlreadyExists, Conflict, InvalidInput, NotFound
from kiln.registry import ModelVersionStatus, _aliases, _models, _versions
from kiln.registry._names import check_model_name, parse_version
from kiln.tracking import _runs
from tests.registry.conftest import PROJECT, MakeRun

SHA = "ab" * 32


def test_create_get_rename_describe_delete(db: Database) -> None:
    made = db.run(
        _models.create_registered_model,
        PROJECT,
        "fraud",
        description="card fraud",
        tags={"team": "risk"},
    )
    assert (made.name, made.description, made.tags, made.latest_version) == (
        "fraud",
        "card fraud",
        {"team": "risk"},
        None,
    )
    with pytest.raises(AlreadyExists) as taken:
        db.run(_models.create_registered_model, PROJECT, "fraud")
    assert taken.value.field == "name"

    db.run(_models.create_registered_model, PROJECT, "churn")
    with pytest.raises(AlreadyExists):
        db.run(_models.rename_registered_model, PROJECT, "churn", "fraud")
    renamed = db.run(
        _models.update_registered_model, PROJECT, "churn", new_name="churn-v2", description="x"
    )
    assert (renamed.name, renamed.description) == ("churn-v2", "x")
    with pytest.raises(NotFound, match="'churn'"):
        db.read(_models.get_registered_model, PROJECT, "churn")

    db.run(_models.set_registered_model_tag, PROJECT, "fraud", "owner", "ada")
    db.run(_models.delete_registered_model_tag, PROJECT, "fraud", "team")
    assert db.read(_models.get_registered_model, PROJECT, "fraud").tags == {"owner": "ada"}
    with pytest.raises(NotFound, match="no tag"):
        db.run(_models.delete_registered_model_tag, PROJECT, "fraud", "team")

    assert [m.name for m in db.read(_models.list_registered_models, PROJECT)] == [
        "churn-v2",
        "fraud",
    ]
    db.run(_models.delete_registered_model, PROJECT, "fraud")
    with pytest.raises(NotFound):
        db.read(_models.get_registered_model, PROJECT, "fraud")


def test_models_are_per_project(db: Database) -> None:
    from kiln import auth

    db.run(auth.create_project, "other")
    db.run(_models.create_registered_model, "other", "fraud")
    with pytest.raises(NotFound, match="project 'default'"):
        db.read(_models.get_registered_model, PROJECT, "fraud")
    db.run(_models.create_registered_model, PROJECT, "fraud")  # the same name elsewhere is fine


def test_version_from_a_run_records_the_manifest_digest(db: Database, make_run: MakeRun) -> None:
    run_id = make_run({"auc": 0.9}, digest=SHA)
    version = db.run(
        _versions.create_model_version,
        PROJECT,
        "fraud",
        f"runs:/{run_id}/model",
        create_model=True,
        user="ada",
        description="first",
        tags={"stage": "dev"},
    )
    assert version.version == 1
    assert version.run_id == run_id
    assert version.manifest_sha256 == SHA
    assert version.flavor == "sklearn"
    assert version.status is ModelVersionStatus.READY
    assert version.created_by == "ada"
    assert version.tags == {"stage": "dev"}
    assert version.uri == "models:/fraud/1"
    assert db.read(_versions.get_model_version, PROJECT, "fraud", "1") == version
    assert db.read(_models.get_registered_model, PROJECT, "fraud").latest_version == 1


def test_version_sources_are_checked(db: Database, make_run: MakeRun) -> None:
    db.run(_models.create_registered_model, PROJECT, "fraud")
    run_id = make_run(manifest=False)
    with pytest.raises(NotFound, match="no Kiln model at 'model'"):
        db.run(_versions.create_model_version, PROJECT, "fraud", f"runs:/{run_id}/model")
    with pytest.raises(NotFound, match=r"run 'f+' does not exist"):
        db.run(_versions.create_model_version, PROJECT, "fraud", f"runs:/{'f' * 32}/model")
    with pytest.raises(NotFound, match="registered model 'nope'"):
        db.run(_versions.create_model_version, PROJECT, "nope", f"runs:/{run_id}/model")
    with pytest.raises(InvalidInput) as no_digest:
        db.run(_versions.create_model_version, PROJECT, "fraud", "/models/fraud")
    assert no_digest.value.field == "manifest_sha256"
    with pytest.raises(InvalidInput) as bad_digest:
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            "/models/fraud",
            manifest_sha256="xyz",
        )
    assert bad_digest.value.field == "manifest_sha256"
    with pytest.raises(InvalidInput) as other_run:
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            f"runs:/{run_id}/model",
            run_id="0" * 32,
        )
    assert other_run.value.field == "run_id"

    folder = db.run(
        _versions.create_model_version, PROJECT, "fraud", "/models/fraud", manifest_sha256=SHA
    )
    foreign = db.run(
        _versions.create_model_version,
        PROJECT,
        "fraud",
        f"runs:/{run_id}/model",
        require_manifest=False,
    )
    assert (folder.version, folder.manifest_sha256) == (1, SHA)
    assert (foreign.version, foreign.manifest_sha256, foreign.run_id) == (2, "", run_id)


def test_version_numbers_are_never_reused(db: Database) -> None:
    for _ in range(3):
        db.run(
            _versions.create_model_version,
            PROJECT,
            "fraud",
            "/m",
            manifest_sha256=SHA,
            create_model=True,
        )
    db.run(_versions.delete_model_version, PROJECT, "fraud", 3)
    with pytest.raises(NotFound, match="no version 3"):
        db.read(_versions.get_model_version, PROJECT, "fraud", 3)
    fourth = db.run(_versions.create_model_version, PROJECT, "fraud", "/m", manifest_sha256=SHA)
    assert fourth.version == 4
    assert [v.version for v in db.read(_versions.list_model_versions, PROJECT, "fraud")] == [
        4,
        2,
        1,
    ]
    assert db.read(_versions.latest_model_version, PROJECT, "fraud").version == 4


def test_describe_and_tag_versions(db: Database) -> None:
    db.run(
        _versions.create_model_version, PROJECT, "m", "/m", manifest_sha256=SHA, create_model=True
    )
    assert db.run(_versions.update_model_version, PROJECT, "m", 1, description="d").description == (
        "d"
    )
    db.run(_versions.set_model_version_tag, PROJECT, "m", 1, "validated", "yes")
    assert db.read(_versions.get_model_version, PROJECT, "m", 1).tags == {"validated": "yes"}
    db.run(_versions.delete_model_version_tag, PROJECT, "m", 1, "validated")
    with pytest.raises(NotFound, match="has no tag"):
        db.run(_versions.delete_model_version_tag, PROJECT, "m", 1, "validated")
    with pytest.raises(InvalidInput) as bad:
        db.run(_versions.set_model_version_tag, PROJECT, "m", 1, "bad//key", "x")
    assert bad.value.field == "tags.key"


def test_purging_the_run_keeps_the_version(db: Database, make_run: MakeRun) -> None:
    run_id = make_run()
    db.run(
        _versions.create_model_version,
        PROJECT,
        "fraud",
        f"runs:/{run_id}/model",
        create_model=True,
    )
    db.run(_runs.purge_run, PROJECT, run_id)
    version = db.read(_versions.get_model_version, PROJECT, "fraud", 1)
    assert version.run_id is None
    assert version.source == f"runs:/{run_id}/model"


def test_deleting_a_version_removes_its_aliases_as_events(db: Database) -> None:
    for _ in range(2):
        db.run(
            _versions.create_model_version,
            PROJECT,
            "m",
            "/m",
            manifest_sha256=SHA,
            create_model=True,
        )
    db.run(_aliases.set_alias, PROJECT, "m", "champion", 2, actor="ada")
    db.run(_versions.delete_model_version, PROJECT, "m", 2, actor="bob")
    with pytest.raises(NotFound, match="no alias 'champion'"):
        db.read(_aliases.get_version_by_alias, PROJECT, "m", "champion")
    last = db.read(_aliases.alias_history, PROJECT, "m", "champion")[0]
    assert (last.action.value, last.from_version, last.to_version, last.actor) == (
        "delete",
        2,
        None,
        "bob",
    )
    assert last.note == "version 2 was deleted"
    with pytest.raises(Conflict, match="version 2: that version was deleted"):
        db.run(_aliases.rollback_alias, PROJECT, "m", "champion")


def test_search_models_and_versions(db: Database) -> None:
    from kiln.registry import _search

    for name, team in (("fraud", "risk"), ("Fraud-EU", "eu"), ("churn", "growth")):
        db.run(_models.create_registered_model, PROJECT, name, tags={"team": team})
        for version in range(2):
            db.run(
                _versions.create_model_version,
                PROJECT,
                name,
                f"/m/{name}/{version}",
                manifest_sha256=SHA,
                tags={"parity": str(version % 2)},
            )

    def models(text: str = "", **options: object) -> list[str]:
        found, _ = db.read(_search.search_registered_models, PROJECT, filter_string=text, **options)
        return [m.name for m in found]

    assert models() == ["Fraud-EU", "churn", "fraud"]  # by code point on both databases
    assert models("name LIKE 'fr%'") == ["fraud"]
    assert models("name ILIKE 'FR%'") == ["Fraud-EU", "fraud"]
    assert models("name = 'churn' or tags.team IN ('eu')") == ["Fraud-EU", "churn"]
    assert models("tags.team != 'risk'", order_by=["name DESC"]) == ["churn", "Fraud-EU"]
    assert models(order_by=["tags.team"]) == ["Fraud-EU", "churn", "fraud"]
    page, token = db.read(_search.search_registered_models, PROJECT, max_results=2)
    assert [m.name for m in page] == ["Fraud-EU", "churn"]
    assert token is not None
    rest, end = db.read(_search.search_registered_models, PROJECT, max_results=2, page_token=token)
    assert ([m.name for m in rest], end) == (["fraud"], None)

    found, _ = db.read(
        _search.search_model_versions,
        PROJECT,
        filter_string="name ILIKE '%fraud%' and version >= 2 and tags.parity = '1'",
    )
    assert [(v.name, v.version) for v in found] == [("Fraud-EU", 2), ("fraud", 2)]
    found, _ = db.read(
        _search.search_model_versions, PROJECT, filter_string="source LIKE '/m/churn/%'"
    )
    assert [v.version for v in found] == [2, 1]
    with pytest.raises(InvalidInput, match="unknown identifier 'colour'") as bad:
        db.read(_search.search_model_versions, PROJECT, filter_string="colour = 'red'")
    assert bad.value.field == "filter"
    with pytest.raises(InvalidInput) as other_query:
        db.read(
            _search.search_registered_models,
            PROJECT,
            filter_string="name = 'x'",
            page_token=token,
        )
    assert other_query.value.field == "page_token"


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("", "non-empty"),
        ("a/b", "must not contain"),
        ("a@b", "must not contain"),
        ("tab\there", "control characters"),
        (" padded", "leading/trailing"),
        ("x" * 257, "limit is 256"),
        (7, "non-empty string"),
    ],
)
def test_bad_model_names_are_refused_naming_the_field(name: object, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment) as refused:
        check_model_name(name)
    assert refused.value.field == "name"


@pytest.mark.parametrize("version", [0, -1, "x", "1.5", "", True, None, 2**31])
def test_bad_version_numbers_are_refused(version: object) -> None:
    with pytest.raises(InvalidInput, match="whole number") as refused:
        parse_version(version)
    assert refused.value.field == "version"


def test_services_refuse_bad_input_before_touching_the_store(db: Database) -> None:
    with pytest.raises(InvalidInput) as name:
        db.run(_models.create_registered_model, PROJECT, "a/b")
    db.run(_models.create_registered_model, PROJECT, "ok")
    with pytest.raises(InvalidInput) as new_name:
        db.run(_models.rename_registered_model, PROJECT, "ok", "a@b")
    with pytest.raises(InvalidInput) as version:
        db.read(_versions.get_model_version, PROJECT, "ok", "v1")
    with pytest.raises(InvalidInput) as source:
        db.run(_versions.create_model_version, PROJECT, "ok", "", manifest_sha256=SHA)
    assert (name.value.field, new_name.value.field, version.value.field, source.value.field) == (
        "name",
        "new_name",
        "version",
        "source",
    )


THREADS = 6
PER_THREAD = 5


def test_concurrent_registrations_get_consecutive_numbers(db: Database) -> None:
    """Threads registering versions of one model at once (each also ensuring the model)."""
    db.engine  # noqa: B018  (migrate before the threads start)
    start = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def register() -> None:
        start.wait()
        try:
            for _ in range(PER_THREAD):
                db.run(
                    _versions.create_model_version,
                    PROJECT,
                    "busy",
                    "/m",
                    manifest_sha256=SHA,
                    create_model=True,
                )
        except BaseException as exc:  # reported below, with the numbers
            failures.append(exc)

    threads = [threading.Thread(target=register) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    numbers = [v.version for v in db.read(_versions.list_model_versions, PROJECT, "busy")]
    assert sorted(numbers) == list(range(1, THREADS * PER_THREAD + 1))


PROCESSES = 3


def _register_from_process(url: str, count: int) -> list[int]:
    database = Database(url)
    numbers = [
        database.run(
            _versions.create_model_version,
            PROJECT,
            "busy",
            "/m",
            manifest_sha256=SHA,
            create_model=True,
        ).version
        for _ in range(count)
    ]
    database.dispose()
    return numbers


def test_processes_registering_at_once_get_unique_consecutive_numbers(sqlite_url: str) -> None:
    """Processes on one SQLite file (PostgreSQL's row lock is covered by the thread test)."""
    db = Database(sqlite_url)
    db.engine  # noqa: B018  (migrate before the processes start)
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        results = pool.starmap(_register_from_process, [(db.url, 5)] * PROCESSES)
    numbers = sorted(n for batch in results for n in batch)
    assert numbers == list(range(1, PROCESSES * 5 + 1))
    for batch in results:
        assert batch == sorted(batch)
    db.dispose()
