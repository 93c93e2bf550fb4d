"""The Lineage page in a real browser: a model version trained in a pipeline step, drawn with
what it was made from, marked stale since its dataset has a newer version; boxes re-centre."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.ui import _seed

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> _seed.Seeded:
    return _seed.seed(ui_home, tmp_path_factory)


def test_a_stale_model_version_its_upstream_and_moving_around(
    page: Any, ui_server: str, seeded: _seed.Seeded, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/lineage")
    page.get_by_label("Node").fill("models:/amount-scorer/1")
    page.get_by_label("Direction").select_option("upstream")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lineage of amount-scorer v1")

    graph = page.get_by_role("group", name="Lineage of amount-scorer v1")
    root = graph.locator("a.graph-node.root")
    expect(root).to_have_class("graph-node lineage-kind-model_version stale root")
    expect(root).to_contain_text("stale")
    stale = page.locator("section", has=page.get_by_role("heading", name="Stale"))
    expect(stale).to_contain_text("dataset 'ref' has a newer version: ref@2")
    upstream = page.locator("section", has=page.get_by_role("heading", name="Upstream"))
    expect(upstream.get_by_role("link", name="ref@1", exact=True)).to_be_visible()
    expect(upstream).to_contain_text(f"fit (training {seeded.training[:8]})")
    expect(
        page.locator("section", has=page.get_by_role("heading", name="Downstream"))
    ).to_contain_text("Not walked")
    shoot(page, "lineage-stale-model")

    # A box re-centres the graph on its node; "open" goes to the node's own page.
    graph.locator("a.graph-node", has_text="ref@1").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lineage of ref@1")
    downstream = page.locator("section", has=page.get_by_role("heading", name="Downstream"))
    expect(downstream.get_by_role("link", name="amount-scorer v1", exact=True)).to_be_visible()
    page.get_by_role("link", name="open its page").click()
    page.wait_for_url("**/datasets/ref/versions/1")
