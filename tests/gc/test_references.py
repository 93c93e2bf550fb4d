"""Every text column of every table is classified: it names blobs, or it never does."""

from __future__ import annotations

from sqlalchemy import String, Text

import kiln.db.tables  # registers every table
import kiln.gc
from kiln.db._base import Base
from kiln.gc import NON_REFERENCE_COLUMNS, REFERENCE_COLUMNS
from tests.test_public_api import ruff_sort_key


def text_columns() -> set[str]:
    return {
        f"{table.name}.{column.name}"
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String | Text)
    }


def test_every_text_column_is_classified_once() -> None:
    references = set(REFERENCE_COLUMNS)
    others = {
        f"{table}.{column}"
        for table, columns in NON_REFERENCE_COLUMNS.items()
        for column in columns
    }

    unclassified = text_columns() - references - others
    assert not unclassified, (
        f"classify {sorted(unclassified)} in kiln/gc/_references.py: REFERENCE_COLUMNS when it "
        "can name a blob (and read it in referenced_digests), else NON_REFERENCE_COLUMNS"
    )
    assert not references & others
    assert references | others <= text_columns(), "a classified column no longer exists"


def test_the_public_names_are_sorted_and_resolve() -> None:
    assert kiln.gc.__all__ == sorted(kiln.gc.__all__, key=ruff_sort_key)
    for name in kiln.gc.__all__:
        assert getattr(kiln.gc, name) is not None
