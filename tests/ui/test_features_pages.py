"""The feature pages in a real browser: the catalog and its search, a feature view's schema,
freshness, statistics with bars, consumers, versions and materializations; a service; an
entity; an unknown name. Over a real apply, materialization and tagged model versions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.features._seed import FeatureSeed
from tests.ui import _features
from tests.ui.conftest import expect_problems

expect = pytest.importorskip("playwright.sync_api").expect

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def seeded(ui_home: Path, tmp_path_factory: pytest.TempPathFactory) -> FeatureSeed:
    return _features.seed(ui_home, tmp_path_factory)


def _open(page: Any, ui_server: str, path: str) -> None:
    """``path`` in the feature store's project (the switcher's cookie, as a person would)."""
    page.goto(f"{ui_server}/projects/switch?project={_features.PROJECT}&next=/features")
    page.wait_for_url("**/features")
    if path != "/features":
        page.goto(ui_server + path)


def test_the_catalog_lists_and_searches_definitions(
    page: Any, ui_server: str, seeded: FeatureSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/features")
    expect(page.get_by_role("heading", level=1)).to_have_text("Features")
    nav = page.get_by_role("navigation", name="Areas")
    expect(nav.get_by_role("link", name="Features")).to_have_attribute("aria-current", "page")
    views = page.get_by_role("table", name="Feature views, by name")
    expect(views.get_by_role("link")).to_have_text(
        [
            "clicks",
            "customer_stats",
            "churn-scorer/1",
            "risk-scorer/1",
            "merchant_risk",
            "risk-scorer/1",
        ]
    )
    stats = views.get_by_role("row").filter(has=page.get_by_role("link", name="customer_stats"))
    expect(stats).to_contain_text("risk-team")
    expect(stats).to_contain_text("team=risk")
    expect(stats.locator("td.num")).to_have_text("3")
    expect(stats.locator("time").first).to_have_text("2 h ago")  # the newest event
    clicks = views.get_by_role("row").filter(has=page.get_by_role("link", name="clicks"))
    expect(clicks.locator("td").nth(4)).to_have_text("never")  # nothing pushed yet
    services = page.get_by_role("table", name="Feature services, by name")
    fraud = services.get_by_role("row").filter(has=page.get_by_role("link", name="fraud"))
    expect(fraud.locator("time")).to_have_text("2 h ago")  # its stalest view: customer_stats
    entities = page.get_by_role("table", name="Entities, by name")
    expect(entities.get_by_role("row")).to_have_count(3)  # the header and two entities
    shoot(page, "features-catalog")

    box = page.get_by_label("Search features")
    box.fill("owner:fraud-team")
    box.press("Enter")
    page.wait_for_url("**/features?q=owner*")
    found = page.get_by_role("table", name="Feature views matching owner:fraud-team, by name")
    expect(found.get_by_role("link", name="merchant_risk")).to_be_visible()
    expect(found.get_by_role("link", name="customer_stats")).to_have_count(0)
    expect(
        page.get_by_role("table", name="Feature services matching owner:fraud-team, by name")
    ).to_have_count(0)
    expect(box).to_have_value("owner:fraud-team")

    box.fill("no-such-feature")
    box.press("Enter")
    expect(page.get_by_text("No definition matches “no-such-feature”.")).to_be_visible()
    page.get_by_role("link", name="Clear").click()
    page.wait_for_url("**/features")
    expect(page.get_by_role("table")).to_have_count(4)


def test_a_feature_view_page_shows_everything_about_it(
    page: Any, ui_server: str, seeded: FeatureSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/features")
    views = page.get_by_role("table", name="Feature views, by name")
    views.get_by_role("link", name="customer_stats").click()
    page.wait_for_url("**/features/views/customer_stats")
    expect(page.get_by_role("heading", level=1)).to_have_text("customer_stats feature view v2")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("within ttl")
    expect(facts).to_contain_text("24 h 00 min")
    expect(facts).to_contain_text("parquet")
    expect(facts.get_by_role("link", name="fraud")).to_have_attribute(
        "href", "/features/services/fraud"
    )

    schema = page.get_by_role("table", name="Columns of customer_stats")
    expect(schema.get_by_role("rowheader")).to_have_text(
        ["customer_id", "event_timestamp", "spend", "segment", "active"]
    )
    expect(schema.get_by_role("row").filter(has_text="spend")).to_contain_text(
        "Spend over the last 7 days"
    )

    statistics = page.get_by_role("table", name="Statistics of each feature as last materialized")
    spend = statistics.get_by_role("row").filter(has=page.get_by_role("rowheader", name="spend"))
    # Customers 1 and 2 were written (12.5 and 40.0); customer 3 was older than the ttl.
    expect(spend.locator("td.num")).to_have_text(
        ["2", "0 (0.0%)", "12.5", "40", "26.25", "19.45", "—"]
    )
    active = statistics.get_by_role("row").filter(has=page.get_by_role("rowheader", name="active"))
    expect(active.get_by_role("img")).to_have_attribute(
        "aria-label", "Most frequent values of active: true (1), false (1)"
    )
    segment = statistics.get_by_role("row").filter(
        has=page.get_by_role("rowheader", name="segment")
    )
    expect(segment.locator("td.num").last).to_have_text("~2")

    consumers = page.get_by_role("table", name="Model versions trained on customer_stats")
    risk = consumers.get_by_role("row").filter(has_text="risk-scorer")
    expect(risk).to_contain_text("customer_stats v1 older version")
    expect(risk).to_contain_text("fraud")
    expect(consumers.get_by_role("row").filter(has_text="churn-scorer")).to_contain_text(
        "customer_stats v2 current"
    )
    expect(risk.get_by_role("link")).to_have_attribute("href", "/models/risk-scorer/versions/1")

    versions = page.get_by_role("table", name="Versions of customer_stats, newest first")
    expect(versions.get_by_role("row").nth(1)).to_contain_text("ttl_seconds")
    expect(versions.get_by_role("row").nth(2)).to_contain_text("first version")
    runs = page.get_by_role("table", name="Materializations of customer_stats, newest first")
    expect(runs.get_by_role("row")).to_have_count(2)
    expect(runs.get_by_role("row").nth(1)).to_contain_text("completed")
    expect(runs.get_by_role("row").nth(1).locator("td.num").first).to_have_text("2")
    shoot(page, "feature-view")


def test_a_service_and_an_entity_page(
    page: Any, ui_server: str, seeded: FeatureSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/features/services/fraud")
    expect(page.get_by_role("heading", level=1)).to_have_text("fraud feature service v1")
    features = page.get_by_role("table", name="Features of fraud, in order")
    expect(features.get_by_role("rowheader")).to_have_text(["spend", "segment", "active", "risk"])
    views = page.get_by_role("table", name="Feature views fraud reads, with their freshness")
    expect(views.get_by_role("row").filter(has_text="merchant_risk")).to_contain_text("1 h ago")
    consumers = page.get_by_role("table", name="Model versions trained on fraud")
    expect(consumers.get_by_role("link")).to_have_text(["risk-scorer v1"])
    shoot(page, "feature-service")
    views.get_by_role("link", name="merchant_risk").click()
    page.wait_for_url("**/features/views/merchant_risk")
    page.locator("dl.facts").get_by_role("link", name="merchant").click()
    page.wait_for_url("**/features/entities/merchant")
    expect(page.get_by_role("heading", level=1)).to_have_text("merchant entity v1")
    expect(page.locator("dl.facts")).to_contain_text("merchant_id string")
    expect(
        page.get_by_role("table", name="Model versions trained on merchant").get_by_role("link")
    ).to_have_text(["risk-scorer v1"])


def test_an_on_demand_view_is_listed_and_has_its_page(
    page: Any, ui_server: str, seeded: FeatureSeed, shoot: Callable[[Any, str], Path]
) -> None:
    _open(page, ui_server, "/features")
    listed = page.get_by_role("table", name="On-demand views, by name")
    share = listed.get_by_role("row").filter(has=page.get_by_role("link", name="spend_share"))
    expect(share).to_contain_text("risk-team")
    expect(share.get_by_role("link", name="customer_stats")).to_have_attribute(
        "href", "/features/views/customer_stats"
    )
    share.get_by_role("link", name="spend_share").click()
    page.wait_for_url("**/features/views/spend_share")
    expect(page.get_by_role("heading", level=1)).to_have_text("spend_share on-demand view v1")
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("amount float64")
    expect(facts).to_contain_text("amount_share")  # the transformation's name
    expect(facts).to_contain_text("2 h ago")  # as fresh as customer_stats
    computed = page.get_by_role("table", name="Features spend_share computes")
    expect(computed.get_by_role("row").filter(has_text="amount_share")).to_contain_text(
        "The payment as a share of the 7-day spend"
    )
    expect(page.locator("pre")).to_contain_text("def amount_share(frame")
    shoot(page, "feature-on-demand")


def test_an_unknown_view_is_a_404_page_with_close_matches(
    page: Any, ui_server: str, seeded: FeatureSeed
) -> None:
    expect_problems(page, "404 (Not Found)")
    _open(page, ui_server, "/features/views/customer_stat")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Not found")
    expect(page.get_by_text("did you mean customer_stats")).to_be_visible()
