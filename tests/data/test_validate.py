"""Inferred schemas and validation: each check catches its fault; thresholds learn from history."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import kiln.data
from kiln.context import Context
from kiln.data import Check, Fixed, Learned, Schema, Thresholds, ValidationReport
from kiln.data._sources import from_pandas
from kiln.errors import InvalidInput
from tests.data.conftest import make_frame


def failed(report: ValidationReport) -> set[tuple[str, str | None]]:
    return {(check.name, check.column) for check in report.failures}


@pytest.fixture
def schema(store: Context) -> Schema:
    kiln.data.register_dataset(make_frame(seed=0), "transactions")
    return kiln.data.infer_schema("transactions@1")


class TestInferSchema:
    def test_expectations_read_off_the_reference(self, schema: Schema) -> None:
        reference = make_frame(seed=0)

        assert schema.names == list(reference.columns)
        assert (schema.dataset, schema.version) == ("transactions", 1)
        identifier = schema["id"]
        assert (identifier.type, identifier.unique, identifier.nullable) == ("int64", True, False)
        assert (identifier.min, identifier.max) == (0, len(reference) - 1)
        assert schema["amount"].min == reference["amount"].min()
        assert not schema["amount"].unique
        assert schema["channel"].categories == ("phone", "store", "web")
        assert schema["channel"].type == "string"
        assert schema["items"].categories is None
        assert not schema["items"].unique
        assert schema["at"].type == "timestamp[us, tz=UTC]"
        assert pd.Timestamp(schema["at"].min) == reference["at"].min()

    def test_missing_values_make_a_column_nullable_with_a_margin(self, store: Context) -> None:
        frame = make_frame(seed=1, amount_nulls=0.1)

        schema = kiln.data.infer_schema(frame, null_rate_margin=0.02)

        rate = frame["amount"].isna().mean()
        assert schema["amount"].nullable
        assert schema["amount"].max_null_rate == pytest.approx(rate + 0.02)
        assert schema.dataset is None

    def test_a_schema_survives_json_and_edits(self, schema: Schema) -> None:
        edited = schema.replace_column("amount", min=0.0, max=None)

        assert Schema.from_dict(edited.to_dict()) == edited
        assert edited["amount"].min == 0.0
        assert schema["amount"].min != 0.0
        with pytest.raises(KeyError, match="no column 'nope'"):
            schema.replace_column("nope", min=1)
        with pytest.raises(InvalidInput, match="'columns' list"):
            Schema.from_dict({"cols": []})


class TestValidate:
    def test_data_like_the_reference_passes(self, schema: Schema) -> None:
        kiln.data.register_dataset(make_frame(seed=5)[make_frame().columns], "transactions")

        report = kiln.data.validate("transactions@2", schema, reference="transactions@1")

        assert report.passed, str(report)
        assert (report.dataset, report.version, report.reference) == (
            "transactions",
            2,
            "transactions@1",
        )
        assert report.id is not None
        assert report.check("psi", "amount").observed < 0.05
        assert report.check("categorical_psi", "channel").passed
        assert report.check("row_count").observed == pytest.approx(0.0)
        with pytest.raises(KeyError):
            report.check("psi", "id")  # identifiers are not distributions

    def test_missing_column_and_type_change(self, schema: Schema) -> None:
        frame = make_frame(seed=5).drop(columns=["fraud"])
        frame["items"] = frame["items"].astype(float)

        report = kiln.data.validate(frame, schema)

        assert failed(report) == {("column_present", "fraud"), ("type", "items")}
        assert report.check("type", "items").observed == "double"
        assert "other checks were skipped" in report.check("type", "items").detail

    def test_categorical_dtype_and_string_width_are_not_type_changes(self, schema: Schema) -> None:
        frame = make_frame(seed=5)
        frame["channel"] = frame["channel"].astype("category")

        assert kiln.data.validate(frame, schema).passed

    def test_null_rate_spike(self, schema: Schema) -> None:
        nullable = schema.replace_column("amount", nullable=True, max_null_rate=0.05)
        fine = make_frame(seed=5, amount_nulls=0.02)
        spiked = make_frame(seed=5, amount_nulls=0.3)

        assert kiln.data.validate(fine, nullable).passed
        report = kiln.data.validate(spiked, nullable)
        assert failed(report) == {("null_rate", "amount")}
        assert report.check("null_rate", "amount").observed == pytest.approx(
            spiked["amount"].isna().mean()
        )
        strict = kiln.data.validate(fine, schema)
        assert failed(strict) == {("not_null", "amount")}

    def test_out_of_range_values(self, schema: Schema) -> None:
        frame = make_frame(seed=5)
        frame.loc[:99, "items"] = -1
        frame.loc[:99, "at"] = pd.Timestamp("2030-01-01", tz="UTC")

        report = kiln.data.validate(frame, schema)

        assert failed(report) == {("range", "items"), ("range", "at")}
        assert report.check("range", "items").observed == pytest.approx(100 / len(frame))
        tolerant = Thresholds(out_of_range=Fixed(0.1))
        assert kiln.data.validate(frame, schema, thresholds=tolerant).passed

    def test_unseen_categories(self, schema: Schema) -> None:
        frame = make_frame(seed=5)
        frame.loc[:9, "channel"] = "fax"

        report = kiln.data.validate(frame, schema)

        assert failed(report) == {("categories", "channel")}
        check = report.check("categories", "channel")
        assert check.observed == pytest.approx(10 / len(frame))
        assert "'fax'" in check.detail

    def test_duplicate_identifiers(self, schema: Schema) -> None:
        frame = make_frame(seed=5)
        frame.loc[:4, "id"] = 7

        report = kiln.data.validate(frame, schema)

        assert failed(report) == {("unique", "id")}
        assert report.check("unique", "id").observed == 5

    def test_row_count_drop_against_the_reference(self, schema: Schema) -> None:
        kept = make_frame(seed=5).iloc[:1_850]
        dropped = make_frame(seed=5).iloc[:1_500]

        assert kiln.data.validate(kept, schema, reference="transactions@1").passed
        report = kiln.data.validate(dropped, schema, reference="transactions@1")
        assert failed(report) == {("row_count", None)}
        assert report.check("row_count").observed == pytest.approx(0.25)

    def test_distribution_shift(self, schema: Schema) -> None:
        shifted = make_frame(seed=5, amount_shift=8.0, weights=(0.1, 0.2, 0.7))
        tolerant = schema.replace_column("amount", max=None)

        report = kiln.data.validate(shifted, tolerant, reference="transactions@1")

        assert failed(report) == {("psi", "amount"), ("categorical_psi", "channel")}
        psi = report.check("psi", "amount")
        assert psi.observed > 0.2
        assert psi.distribution is not None
        assert len(psi.distribution["labels"]) == 10
        assert sum(psi.distribution["reference"]) == pytest.approx(1.0)
        channel = report.check("categorical_psi", "channel").distribution
        assert channel is not None
        assert channel["labels"] == ["web", "store", "phone", "(other)"]

    def test_psi_matches_the_formula(self, schema: Schema) -> None:
        shifted = make_frame(seed=5, weights=(0.2, 0.3, 0.5))
        report = kiln.data.validate(shifted, schema, reference="transactions@1")

        check = report.check("categorical_psi", "channel")
        assert check.distribution is not None
        ref = np.maximum(np.asarray(check.distribution["reference"]), 1e-4)
        cur = np.maximum(np.asarray(check.distribution["current"]), 1e-4)
        assert check.observed == pytest.approx(float(np.sum((cur - ref) * np.log(cur / ref))))
        expected = make_frame(seed=0)["channel"].value_counts(normalize=True)
        assert check.distribution["reference"][:3] == pytest.approx(expected.tolist())

    def test_extra_columns_warn_unless_forbidden(self, schema: Schema) -> None:
        frame = make_frame(seed=5).assign(extra=1)

        report = kiln.data.validate(frame, schema)

        assert report.passed
        assert [(c.name, c.column) for c in report.warnings] == [("unexpected_column", "extra")]
        closed = Schema(schema.columns, allow_extra_columns=False)
        assert failed(kiln.data.validate(frame, closed)) == {("unexpected_column", "extra")}

    def test_reference_alone_gives_the_schema(self, store: Context) -> None:
        reference = make_frame(seed=0)
        frame = make_frame(seed=5).drop(columns=["id"])

        from_frame = kiln.data.validate(frame, reference=reference)
        from_profile = kiln.data.validate(frame, reference=kiln.data.profile(reference))

        assert failed(from_frame) == failed(from_profile) == {("column_present", "id")}
        assert from_frame.dataset is None
        assert from_frame.id is None

    def test_bad_arguments(self, schema: Schema) -> None:
        with pytest.raises(InvalidInput, match="needs a schema"):
            kiln.data.validate(make_frame())
        with pytest.raises(InvalidInput, match="thresholds must be"):
            kiln.data.validate(make_frame(), schema, thresholds={"psi": 1})  # type: ignore[arg-type]
        with pytest.raises(InvalidInput, match="reference must be a stored version"):
            kiln.data.validate(make_frame(), schema, reference=42)
        assert kiln.data.validate(make_frame(seed=5), schema.to_dict()).passed  # type: ignore[arg-type]

    def test_validations_of_stored_versions_are_recorded(self, schema: Schema) -> None:
        kiln.data.register_dataset(make_frame(seed=5), "transactions")

        first = kiln.data.validate("transactions@2", schema)
        kiln.data.validate("transactions@2", schema, record=False)
        second = kiln.data.validate("transactions@1", schema)

        history = kiln.data.list_validations("transactions")
        assert [report.id for report in history] == [second.id, first.id]
        assert [r.id for r in kiln.data.list_validations("transactions@2")] == [first.id]
        assert history[1].checks == first.checks


class TestHtml:
    def test_report_page_lists_failures_first_and_is_self_contained(
        self, schema: Schema, tmp_path: Path
    ) -> None:
        frame = make_frame(seed=5, amount_shift=8.0)
        frame.loc[:9, "channel"] = "<script>alert(1)</script>"

        report = kiln.data.validate(frame, schema, reference="transactions@1")
        path = tmp_path / "report.html"
        page = report.to_html(path)

        assert path.read_text(encoding="utf-8") == page
        assert page.startswith("<!DOCTYPE html>")
        assert "failed: " in page
        assert page.index("categories") < page.index(">passed</td>")
        assert "<svg" in page
        assert "<script>" not in page
        assert "&lt;script&gt;" in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
        assert "https://" not in page
        for check in report.failures:
            assert f"<td>{check.name}</td>" in page


class TestLearnedThresholds:
    def register_and_validate(
        self, seed: int, thresholds: Thresholds, schema: Schema, **frame: float
    ) -> ValidationReport:
        version = kiln.data.register_dataset(make_frame(seed=seed, **frame), "transactions")
        return kiln.data.validate(
            version.uri, schema, reference="transactions@1", thresholds=thresholds
        )

    def test_steady_history_tightens_the_null_rate_limit(self, schema: Schema) -> None:
        nullable = schema.replace_column("amount", nullable=True, max_null_rate=0.2)
        learned = Thresholds(null_rate=Learned(k=3, min_history=3))
        for seed in (11, 12, 13):
            report = self.register_and_validate(seed, learned, nullable, amount_nulls=0.02)
            assert report.passed, str(report)
            assert not report.check("null_rate", "amount").learned

        spike = self.register_and_validate(14, learned, nullable, amount_nulls=0.08)

        check = spike.check("null_rate", "amount")
        assert check.learned
        assert check.threshold < 0.05 < check.observed < 0.2
        assert not check.passed
        assert "learned from 3 earlier validations" in check.detail
        # With the schema's fixed limit the same data passes.
        assert kiln.data.validate("transactions@5", nullable, reference="transactions@1").passed

    def test_varied_history_loosens_the_limit(self, schema: Schema) -> None:
        nullable = schema.replace_column("amount", nullable=True, max_null_rate=0.07)
        learned = Thresholds(null_rate=Learned(k=3, min_history=2, fallback=0.3))
        for seed, rate in ((21, 0.02), (22, 0.10), (23, 0.04)):
            assert self.register_and_validate(seed, learned, nullable, amount_nulls=rate).passed

        wide = self.register_and_validate(24, learned, nullable, amount_nulls=0.15)

        check = wide.check("null_rate", "amount")
        assert check.learned
        assert check.passed
        assert check.threshold > 0.15 > 0.07

    def test_row_count_limit_learned_from_past_drops(self, schema: Schema) -> None:
        learned = Thresholds(row_count_drop=Learned(min_history=3))
        for index, drop in enumerate((0.02, 0.03, 0.025)):
            frame = make_frame(seed=30 + index).iloc[: int(2_000 * (1 - drop))]
            kiln.data.register_dataset(frame, "transactions")
            number = kiln.data.get_version("transactions@latest").version
            report = kiln.data.validate(
                f"transactions@{number}", schema, reference="transactions@1", thresholds=learned
            )
            assert report.passed, str(report)

        frame = make_frame(seed=40).iloc[:1_840]  # 8 % fewer rows: under the fixed 10 %
        version = kiln.data.register_dataset(frame, "transactions")
        report = kiln.data.validate(
            version.uri, schema, reference="transactions@1", thresholds=learned
        )

        assert failed(report) == {("row_count", None)}
        assert report.check("row_count").learned
        assert report.check("row_count").threshold < 0.05

    def test_failed_validations_do_not_teach(self, schema: Schema) -> None:
        learned = Thresholds(row_count_drop=Learned(min_history=1))
        frame = make_frame(seed=50).iloc[:1_000]
        version = kiln.data.register_dataset(frame, "transactions")
        report = kiln.data.validate(
            version.uri, schema, reference="transactions@1", thresholds=learned
        )
        assert not report.passed

        again = kiln.data.validate(
            make_frame(seed=51).iloc[:1_990],
            schema,
            reference="transactions@1",
            thresholds=learned,
        )
        assert not again.check("row_count").learned
        assert again.passed

    def test_thresholds_describe_themselves(self) -> None:
        assert Thresholds().to_dict()["psi"] == {"kind": "fixed", "value": 0.2, "severity": "error"}
        assert Thresholds.learned(k=2).to_dict()["null_rate"]["k"] == 2
        assert not Thresholds().uses_history()
        assert Thresholds.learned().uses_history()

    def test_warning_severity_does_not_fail(self, schema: Schema) -> None:
        shifted = make_frame(seed=5, weights=(0.1, 0.2, 0.7))
        gentle = Thresholds(categorical_psi=Fixed(0.2, severity="warning"))

        report = kiln.data.validate(shifted, schema, reference="transactions@1", thresholds=gentle)

        assert report.passed
        assert [c.name for c in report.warnings] == ["categorical_psi"]


def test_check_round_trips_through_json() -> None:
    check = Check("psi", "a", False, 0.3, 0.2, "d", distribution={"labels": ["x"]})

    assert Check.from_dict(check.to_dict()) == check


def test_validate_works_on_arrow_and_paths(store: Context, tmp_path: Path) -> None:
    frame = make_frame(seed=0)
    table = from_pandas(frame)
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    schema = kiln.data.infer_schema(table)

    assert kiln.data.validate(path, schema, reference=table).passed
    assert kiln.data.validate(pa.Table.from_batches(table.to_batches()), schema).passed


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Fixed(-1), "Fixed.value must be a number from 0"),
        (lambda: Fixed(0.1, severity="fatal"), "severity must be"),  # type: ignore[arg-type]
        (lambda: Learned(k=-1), "Learned.k"),
        (lambda: Learned(min_history=0), "min_history"),
        (lambda: Learned(min_history=5, window=3), "window"),
    ],
)
def test_bad_thresholds(make: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        make()  # type: ignore[operator]


def test_times_of_day_and_durations_are_profiled_and_checked() -> None:
    import datetime as dt

    from kiln.data._checks import run_checks
    from kiln.data._profiling import compute_profile
    from kiln.data._schema import infer_from_profile

    table = pa.table(
        {
            "wait": pa.array([dt.timedelta(seconds=5), None]),
            "opens": pa.array([dt.time(8), dt.time(9)]),
            "day": pa.array([dt.date(2026, 1, 1), dt.date(2026, 1, 2)]),
        }
    )
    profile = compute_profile(table, bins=5, top_k=5)
    schema = infer_from_profile(profile, max_categories=5)
    later = table.set_column(2, "day", pa.array([dt.date(2026, 1, 1), dt.date(2027, 1, 1)]))

    checks = run_checks(later, schema, reference=profile, thresholds=Thresholds(), history={})

    assert (schema["wait"].min, schema["opens"].min, schema["day"].min) == (
        None,
        None,
        "2026-01-01",
    )
    assert [(c.name, c.column) for c in checks if not c.passed] == [("range", "day")]
