"""The Datasets pages in a real browser: the list, a dataset's versions, a version's profile
with its histograms and top values, and the validation a quality gate recorded."""

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


def test_a_dataset_its_versions_and_a_profile_with_histograms(
    page: Any, ui_server: str, seeded: _seed.Seeded, shoot: Callable[[Any, str], Path]
) -> None:
    page.goto(ui_server + "/datasets")
    listing = page.get_by_role("table", name="Datasets of the project, by name")
    ref = listing.get_by_role("row").filter(has=page.get_by_role("link", name="ref", exact=True))
    expect(ref).to_contain_text("the new normal")  # the description of its newest version
    expect(ref).to_contain_text("v2")
    listing.get_by_role("link", name="ref", exact=True).click()
    page.wait_for_url("**/datasets/ref")
    versions = page.get_by_role("table", name="Versions of ref, newest first")
    expect(versions.get_by_role("link")).to_have_text(["v2", "v1"])
    versions.get_by_role("link", name="v1").click()
    page.wait_for_url("**/datasets/ref/versions/1")
    expect(page.get_by_role("heading", level=1)).to_have_text("ref v1")

    profile = page.get_by_role("table", name="Statistics of each column")
    amount = profile.get_by_role("row").filter(has=page.get_by_role("rowheader", name="amount"))
    expect(amount.locator("td.num")).to_have_text(["0 (0.0%)", "200", "1", "100", "50.5", "28.79"])
    histogram = amount.get_by_role("img", name="Histogram of amount: 20 bins from 1 to 100")
    expect(histogram.locator("rect")).to_have_count(20)
    kind = profile.get_by_role("row").filter(has=page.get_by_role("rowheader", name="kind"))
    expect(kind.get_by_role("img")).to_have_attribute(
        "aria-label", "Most frequent values of kind: a (100), b (100)"
    )
    shoot(page, "dataset-version-profile")


def test_a_version_shows_the_validation_its_gate_recorded(
    page: Any, ui_server: str, seeded: _seed.Seeded
) -> None:
    page.goto(ui_server + "/datasets/events/versions/latest")
    section = page.locator("section", has=page.get_by_role("heading", name="Validations"))
    # Both seeded runs checked it against ref@1 (and the resumed one against ref@2 too).
    heading = section.get_by_role("heading", level=3).filter(has_text="against ref@1").first
    expect(heading).to_contain_text("failed")
    failed = section.locator("tr.row-failed").filter(has_text="range").first
    expect(failed).to_contain_text("amount")
    expect(failed).to_contain_text("✗ failed")
