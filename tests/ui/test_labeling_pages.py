"""The labeling pages in a real browser, checked against what the store holds afterwards.

- Two annotators on an auth server label with the keyboard (a label's key, then Enter),
  comment, skip and see the next task; they disagree on one, which lands in the review
  queue, where the reviewer (an admin) sees both answers and decides; the task is reviewed.
- A named-entity span made by selecting text and pressing the entity's key.
- A model's pre-annotation shown chosen, then changed before submitting.
- Multi-label toggles; an image item and a path shown as text; the empty states.
- Refusals: a viewer gets no controls and the API refuses them; an annotator may not review.
- Export: inline to a dataset's page (one post, one version); a large project's export
  (``INLINE_LIMIT`` patched to 0 on a server in this process) lands on its job's page,
  which follows the job to ``succeeded``.

Seeded in project ``labeling-shop`` of the demo store by ``tests/ui/_labeling.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiln.context import Context, using_context
from kiln.errors import NotFound
from kiln.labeling import Task, _projects
from kiln.labeling._tasks import get_task, list_tasks
from tests.ui import _labeling
from tests.ui._labeling import (
    DISPUTED,
    DISPUTED_ANSWERS,
    DONE,
    ENTITIES,
    ENTITY_SCHEMA,
    ENTITY_TEXT,
    LOANS,
    PHOTOS,
    PNG,
    PROJECT,
    SENTIMENT,
    TOPICS,
    LabelingSeed,
)
from tests.ui._seed import settings
from tests.ui.conftest import AuthServer, expect_problems

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path) -> LabelingSeed:
    return _labeling.seed(ui_home)


@pytest.fixture(scope="module")
def store(ui_home: Path, seeded: LabelingSeed) -> Iterator[Context]:
    context = Context(settings(ui_home).model_copy(update={"project": PROJECT}))
    yield context
    context.close()


def _task(store: Context, name: str, key: str) -> Task:
    found, _ = store.db.read(list_tasks, PROJECT, name, limit=1000)
    by_key = {t.item_key: t for t in found}
    return store.db.read(get_task, PROJECT, name, by_key[key].id)


def _login(page: Any, url: str, token: str, target: str) -> None:
    page.goto(f"{url}/login?next={target}")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**{target}")


def _watched(browser: Any, problems: list[str]) -> Any:
    """A second person's browser, whose console errors and 4xx/5xx answers are recorded."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    return context


def _heading_item(page: Any, key: str) -> None:
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"item {key}")


def test_annotators_label_by_keyboard_disagree_and_a_reviewer_decides(
    page: Any,
    browser: Any,
    auth_server: AuthServer,
    seeded: LabelingSeed,
    store: Context,
    shoot: Callable[[Any, str], Path],
) -> None:
    url, target = auth_server.url, f"/labeling/{SENTIMENT}/label"
    _login(page, url, seeded.tokens["lab-ana"], target)
    expect(page.get_by_text("lab-ana · editor")).to_be_visible()
    _heading_item(page, "r0")
    expect(page.locator("#labeling-text")).to_have_text("Great phone, the battery lasts for days")
    expect(page.get_by_text("How does the customer feel?")).to_be_visible()
    expect(page.get_by_role("button", name="1 positive")).to_have_attribute("aria-pressed", "false")
    shoot(page, "labeling-task")
    page.keyboard.press("1")
    expect(page.get_by_role("button", name="1 positive")).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("Enter")
    _heading_item(page, "r1")  # the next task
    expect(page.locator("#toast")).to_contain_text("saved")

    page.get_by_label("Comment").fill("sarcasm, I think")
    page.keyboard.press("Escape")  # out of the comment box: keys are shortcuts again
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    _heading_item(page, "r2")
    page.keyboard.press("s")
    _heading_item(page, "r3")
    expect(page.locator("#toast")).to_contain_text("skipped")

    r0, r1, r2 = (_task(store, SENTIMENT, key) for key in ("r0", "r1", "r2"))
    assert [(a.annotator, a.label, a.skipped) for a in r0.annotations] == [
        ("lab-ana", "positive", False)
    ]
    assert [(a.label, a.comment) for a in r1.annotations] == [("negative", "sarcasm, I think")]
    assert (r1.annotations[0].seconds or -1) >= 0  # the page timed the answer
    assert [(a.annotator, a.skipped, a.label) for a in r2.annotations] == [("lab-ana", True, None)]
    assert r0.status == "open"  # overlap 2: one answer is not enough

    # A second annotator, blind to the first, disagrees on r0: it goes to review.
    problems: list[str] = []
    second = _watched(browser, problems)
    try:
        other = second.new_page()
        _login(other, url, seeded.tokens["lab-ben"], target)
        _heading_item(other, "r0")
        expect(other.get_by_text("positive", exact=True)).to_have_count(0)  # no one else's answer
        other.keyboard.press("3")
        other.keyboard.press("Enter")
        _heading_item(other, "r1")
    finally:
        second.close()
    r0 = _task(store, SENTIMENT, "r0")
    assert (r0.status, r0.needs_review) == ("complete", True)

    # The reviewer sees both answers and the reason, and decides.
    review = f"/labeling/{SENTIMENT}/review"
    third = _watched(browser, problems)
    try:
        reviewer = third.new_page()
        _login(reviewer, url, seeded.tokens["lab-rita"], review)
        card = reviewer.locator(f"#review-{r0.id}")
        expect(card).to_contain_text("annotators disagree")
        answers = card.get_by_role("table", name=f"Answers to task {r0.id}")
        expect(answers).to_contain_text("lab-ana")
        expect(answers).to_contain_text("lab-ben")
        expect(answers).to_contain_text("neutral")
        shoot(reviewer, "labeling-review")
        form = card.get_by_role("group", name=f"Final label for task {r0.id}")
        form.get_by_label("negative").check()
        card.get_by_label("Note").fill("both missed the complaint")
        card.get_by_role("button", name=f"Decide task {r0.id}").click()
        expect(reviewer.locator("#toast")).to_contain_text(f"Task {r0.id} reviewed")
        expect(reviewer.locator(f"#review-{r0.id}")).to_have_count(0)
        reviewer.goto(f"{url}/labeling/{SENTIMENT}/agreement")
        people = reviewer.get_by_role("table", name="Each annotator's record")
        ana = people.get_by_role("row").filter(has_text="lab-ana")
        expect(ana).to_contain_text("2")  # two answers (r0, r1), one skip
        expect(people.get_by_role("row").filter(has_text="lab-ben")).to_be_visible()
    finally:
        third.close()
    assert problems == []
    decided = _task(store, SENTIMENT, "r0")
    assert (decided.status, decided.consensus, decided.reviewed_by, decided.needs_review) == (
        "reviewed",
        "negative",
        "lab-rita",
        False,
    )
    assert decided.review_reason == "both missed the complaint"


def test_a_span_is_marked_by_selecting_text_and_pressing_the_entity_key(
    page: Any,
    ui_server: str,
    seeded: LabelingSeed,
    store: Context,
    shoot: Callable[[Any, str], Path],
) -> None:
    page.goto(f"{ui_server}/labeling/{ENTITIES}/label?project={PROJECT}")
    _heading_item(page, "s1")
    text = page.locator("#labeling-text")
    expect(text).to_have_text(ENTITY_TEXT)
    start = ENTITY_TEXT.index("Acme Corp")
    page.evaluate(
        """([start, end]) => {
            const node = document.getElementById("labeling-text").firstChild;
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, end);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }""",
        [start, start + len("Acme Corp")],
    )
    page.keyboard.press("2")  # ORG
    expect(text.locator("mark")).to_have_text(["Acme Corp"])
    expect(page.get_by_role("list", name="Marked spans")).to_contain_text("“Acme Corp” ORG")
    # A second span, selected with the mouse this time: a drag across "Acme Phone X".
    left, right = page.evaluate(
        """() => {
            const node = document.getElementById("labeling-text").firstChild;
            const rect = (at) => {
                const range = document.createRange();
                range.setStart(node, at);
                range.setEnd(node, at + 1);
                return range.getBoundingClientRect();
            };
            const first = rect(0), last = rect(11);
            return [[first.left + 1, first.top + first.height / 2],
                    [last.right - 1, last.top + last.height / 2]];
        }"""
    )
    page.mouse.move(*left)
    page.mouse.down()
    page.mouse.move(*right, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="1 PRODUCT").click()  # the button keeps the selection
    expect(text.locator("mark")).to_have_text(["Acme Phone X", "Acme Corp"])
    shoot(page, "labeling-ner")
    page.keyboard.press("Enter")
    _heading_item(page, "s2")
    stored = _task(store, ENTITIES, "s1")
    assert stored.status == "complete"
    assert stored.consensus == [
        {"start": 0, "end": 12, "label": "PRODUCT"},
        {"start": start, "end": start + 9, "label": "ORG"},
    ]


def test_the_models_preannotation_is_chosen_and_can_be_changed(
    page: Any, ui_server: str, seeded: LabelingSeed, store: Context
) -> None:
    page.goto(f"{ui_server}/labeling/{LOANS}/label?project={PROJECT}")
    _heading_item(page, "a1")
    fields = page.get_by_role("table", name="Fields of item a1")
    expect(fields).to_contain_text("income")
    expect(fields).to_contain_text("95")
    task = _task(store, LOANS, "a1")
    assert task.prediction is not None
    guess = task.prediction["label"]
    expect(page.locator("#labeling-prediction")).to_contain_text(f"{_labeling.MODEL}")
    expect(page.locator("#labeling-prediction")).to_contain_text(guess)
    chosen = page.locator('button[aria-pressed="true"]')
    expect(chosen).to_have_count(1)
    expect(chosen).to_have_attribute("data-label", guess)
    page.keyboard.press("3")  # unsure: the person overrides the model
    expect(page.get_by_role("button", name="3 unsure")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name=f"{guess}")).to_have_attribute("aria-pressed", "false")
    page.get_by_role("button", name="Submit").click()
    _heading_item(page, "a2")
    answered = _task(store, LOANS, "a1")
    assert [a.label for a in answered.annotations] == ["unsure"]
    assert answered.prediction == task.prediction  # the model's guess is kept beside it


def test_multilabel_keys_toggle(
    page: Any, ui_server: str, seeded: LabelingSeed, store: Context
) -> None:
    page.goto(f"{ui_server}/labeling/{TOPICS}/label?project={PROJECT}")
    for key in ("1", "3", "1"):  # price on, screen on, price off
        page.keyboard.press(key)
    expect(page.locator('button[aria-pressed="true"]')).to_have_text(["3 screen"])
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page.locator("#labeling-empty")).to_contain_text("Nothing left for you to label")
    assert _task(store, TOPICS, "t1").consensus == ["battery", "screen"]  # the schema's order


def test_an_image_is_shown_and_a_path_stays_text(
    page: Any, ui_server: str, seeded: LabelingSeed, store: Context
) -> None:
    page.goto(f"{ui_server}/labeling/{PHOTOS}/label?project={PROJECT}")
    image = page.get_by_role("img", name="image of item p1")
    expect(image).to_have_attribute("src", PNG)
    assert page.evaluate("document.querySelector('.labeling-image').naturalWidth") == 1
    page.keyboard.press("s")
    _heading_item(page, "p2")
    expect(page.locator(".labeling-image")).to_have_count(0)
    expect(page.locator(".labeling-path")).to_contain_text("/data/photos/p2.jpg")
    assert _task(store, PHOTOS, "p1").annotations[0].skipped


def test_nothing_left_and_nothing_to_review_are_said(
    page: Any, ui_server: str, seeded: LabelingSeed
) -> None:
    page.goto(f"{ui_server}/labeling/{DONE}/label?project={PROJECT}")
    expect(page.locator("#labeling-empty")).to_contain_text("Nothing left for you to label")
    expect(page.get_by_role("button", name="Submit")).to_have_count(0)
    page.goto(f"{ui_server}/labeling/{DONE}/review?project={PROJECT}")
    expect(page.locator("#review-empty")).to_contain_text("Nothing waits for a reviewer")


def test_the_list_and_a_project_show_progress(
    page: Any, ui_server: str, seeded: LabelingSeed, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(f"{ui_server}/projects/switch?project={PROJECT}&next=/labeling")  # as a person would
    page.wait_for_url("**/labeling")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Labeling")).to_have_attribute("aria-current", "page")
    table = page.get_by_role("table", name="Labeling projects")
    row = table.get_by_role("row").filter(has=page.get_by_role("link", name=DONE, exact=True))
    expect(row).to_contain_text("1")
    expect(row.locator("progress")).to_have_attribute("value", "1")
    shoot(page, "labeling-projects")
    table.get_by_role("link", name=SENTIMENT, exact=True).click()
    page.wait_for_url(f"**/labeling/{SENTIMENT}")
    expect(page.locator("#count-tasks")).to_have_text("6")
    expect(page.get_by_role("link", name="Label", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="product-reviews@1")).to_be_visible()
    shoot(page, "labeling-project")


def test_a_viewer_gets_no_controls_and_the_api_refuses_viewers_and_annotators(
    page: Any, auth_server: AuthServer, seeded: LabelingSeed, store: Context
) -> None:
    url = auth_server.url
    _login(page, url, seeded.tokens["lab-vic"], f"/labeling/{SENTIMENT}/label")
    expect(page.locator("#labeling-refused")).to_contain_text("viewer")
    for name in ("Submit", "Skip", "1 positive"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    page.goto(f"{url}/labeling/{SENTIMENT}")
    expect(page.get_by_role("link", name="Label", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Export labels")).to_have_count(0)
    expect(page.get_by_role("button", name="Delete project")).to_have_count(0)
    page.goto(f"{url}/labeling/{SENTIMENT}/review")
    expect(page.locator("#review-refused")).to_be_visible()
    expect(page.locator("form[data-review]")).to_have_count(0)

    task = _task(store, SENTIMENT, "r5")
    api = f"/api/v1/labeling/{SENTIMENT}"
    with httpx.Client(base_url=url, timeout=30) as client:
        viewer = {"Authorization": f"Bearer {seeded.tokens['lab-vic']}"}
        annotator = {"Authorization": f"Bearer {seeded.tokens['lab-ana']}"}
        refused = client.post(
            f"{api}/tasks/{task.id}/annotations", json={"label": "positive"}, headers=viewer
        )
        assert refused.status_code == 403, refused.text
        assert client.get(f"{api}/next", headers=viewer).status_code == 403
        not_reviewer = client.post(
            f"{api}/tasks/{task.id}/review", json={"label": "positive"}, headers=annotator
        )
        assert not_reviewer.status_code == 403, not_reviewer.text
        assert client.get(f"{api}/review", headers=viewer).status_code == 200
    assert _task(store, SENTIMENT, "r5").annotations == []
    assert _task(store, SENTIMENT, "r5").status == "open"


def test_a_refused_label_is_said_on_the_page(
    page: Any, ui_server: str, seeded: LabelingSeed
) -> None:
    page.goto(f"{ui_server}/labeling/{SENTIMENT}/label?project={PROJECT}")
    page.keyboard.press("Enter")  # nothing chosen yet
    expect(page.locator("#labeling-status")).to_contain_text("Choose a label first")
    expect_problems(page, "400 (Bad Request)")
    page.evaluate(
        "document.querySelector('button[data-label]').dataset.label = 'ecstatic'"
    )  # a label the schema does not have, as a stale page might send
    page.locator("button[data-label]").first.click()
    page.keyboard.press("Enter")
    expect(page.locator("#labeling-status")).to_contain_text(
        "'ecstatic' is not one of the project's labels"
    )


def test_a_reviewer_takes_one_annotators_spans(
    page: Any, ui_server: str, seeded: LabelingSeed, store: Context
) -> None:
    page.goto(f"{ui_server}/labeling/{DISPUTED}/review?project={PROJECT}")
    task = _task(store, DISPUTED, "q1")
    card = page.locator(f"#review-{task.id}")
    answers = card.get_by_role("table", name=f"Answers to task {task.id}")
    expect(answers).to_contain_text("“Acme Phone X” PRODUCT")
    expect(answers).to_contain_text("“Acme” ORG; “Acme Corp” ORG")
    choices = card.get_by_role("group", name=f"Final label for task {task.id}")
    expect(choices.get_by_role("radio")).to_have_count(2)  # one per distinct answer
    choices.get_by_label("the spans of seed-b").check()
    card.get_by_role("button", name=f"Decide task {task.id}").click()
    expect(page.locator("#review-empty")).to_be_visible()
    decided = _task(store, DISPUTED, "q1")
    assert decided.status == "reviewed"
    assert decided.consensus == DISPUTED_ANSWERS["seed-b"]
    assert decided.reviewed_by == "local"


def test_export_and_delete_from_a_projects_page(
    page: Any, ui_server: str, seeded: LabelingSeed, store: Context
) -> None:
    page.goto(f"{ui_server}/projects/switch?project={PROJECT}&next=/labeling")
    page.wait_for_url("**/labeling")
    page.get_by_role("link", name=DONE, exact=True).click()
    page.wait_for_url(f"**/labeling/{DONE}")
    posts = _export_posts(page)
    page.get_by_label("Dataset").fill("done-export")
    page.get_by_role("button", name="Export labels").click()
    page.wait_for_url("**/datasets/done-export")
    expect(page.locator("#toast")).to_contain_text("Exported the labels as done-export@1")
    with using_context(store):
        import kiln.data

        exported = kiln.data.load("done-export@1")
        versions = kiln.data.list_versions("done-export")
    assert exported["label"].tolist() == ["positive"]
    # A second post of the same labels would be deduplicated into the same version, so the
    # page's requests are counted too (the page once loaded labeling.js twice).
    assert [v.version for v in versions] == [1]
    assert len(posts) == 1, posts

    store.db.run(_projects.create_project, PROJECT, "short-lived", ENTITY_SCHEMA)
    page.goto(f"{ui_server}/labeling/short-lived")
    page.get_by_role("button", name="Delete project").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Delete labeling project short-lived")
    dialog.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/labeling")
    expect(page.get_by_role("link", name="short-lived")).to_have_count(0)
    with pytest.raises(NotFound):
        store.db.read(_projects.get_project, PROJECT, "short-lived")


def _export_posts(page: Any) -> list[str]:
    """The export requests the page sends from now on."""
    sent: list[str] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.url)
            if request.method == "POST" and request.url.endswith("/export")
            else None
        ),
    )
    return sent


@pytest.fixture
def in_process_server(ui_home: Path, seeded: LabelingSeed) -> Iterator[str]:
    """A server in this process over the demo store, so a monkeypatch reaches its routes.

    ``ui_server`` is a ``kiln server`` process of its own, where monkeypatching
    ``INLINE_LIMIT`` would change nothing.
    """
    from kiln.server import create_app
    from kiln.server.background import BackgroundServer

    context = Context(settings(ui_home))
    server = BackgroundServer(create_app(context))
    try:
        yield server.start()
    finally:
        server.stop()
        context.close()


def test_a_large_projects_export_runs_as_a_job_whose_page_follows_it(
    page: Any, in_process_server: str, store: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kiln.labeling import _export_job
    from kiln.training._job_control import list_jobs, wait_job
    from kiln.training._jobs import JobStatus

    monkeypatch.setattr(_export_job, "INLINE_LIMIT", 0)  # every project counts as large
    url = in_process_server
    page.goto(f"{url}/projects/switch?project={PROJECT}&next=/labeling")
    page.wait_for_url("**/labeling")
    page.get_by_role("link", name=DONE, exact=True).click()
    page.wait_for_url(f"**/labeling/{DONE}")
    posts = _export_posts(page)
    page.get_by_label("Dataset").fill("done-background")
    page.get_by_role("button", name="Export labels").click()
    page.wait_for_url(re.compile(r"/jobs/\d+$"))
    job_id = int(page.url.rpartition("/")[2])
    expect(page.locator("#toast")).to_contain_text(
        f"Exporting the labels in the background as job {job_id}"
    )
    job = wait_job(job_id, timeout=120, context=store, project=PROJECT)
    assert job.status is JobStatus.SUCCEEDED, job.failure
    assert job.entry == _export_job.ENTRY
    expect(page.locator("#job-status")).to_have_text("succeeded", timeout=30_000)
    log = page.get_by_label(re.compile("^Output of job"))
    expect(log).to_contain_text("registered done-background@1")
    with using_context(store):
        import kiln.data

        exported = kiln.data.load("done-background@1")
    assert exported["label"].tolist() == ["positive"]
    assert len(posts) == 1, posts
    exports = [j.id for j in list_jobs(context=store, project=PROJECT) if j.name == job.name]
    assert exports == [job_id]
