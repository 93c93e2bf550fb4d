"""The error tree: each Kiln error is also the matching builtin, with a stable code."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import kiln
from kiln import errors
from kiln.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    KilnError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    Unavailable,
    error_class,
)

TREE = [
    (NotFound, LookupError, "NOT_FOUND"),
    (AlreadyExists, ValueError, "ALREADY_EXISTS"),
    (InvalidInput, ValueError, "INVALID_INPUT"),
    (Conflict, RuntimeError, "CONFLICT"),
    (PermissionDenied, PermissionError, "PERMISSION_DENIED"),
    (Unauthenticated, PermissionError, "UNAUTHENTICATED"),
    (Unavailable, ConnectionError, "UNAVAILABLE"),
]


@pytest.mark.parametrize(("error", "builtin", "code"), TREE)
def test_each_error_is_a_kiln_error_and_its_builtin(
    error: type[KilnError], builtin: type[Exception], code: str
) -> None:
    assert issubclass(error, KilnError)
    assert issubclass(error, builtin)
    assert error.error_code == code

    raised = error("the message")
    with pytest.raises(builtin):
        raise raised
    with pytest.raises(KilnError):
        raise raised


@pytest.mark.parametrize(("error", "builtin", "code"), TREE)
def test_errors_do_not_cross_branches(
    error: type[KilnError], builtin: type[Exception], code: str
) -> None:
    for other, _, _ in TREE:
        if other is not error:
            assert not issubclass(error, other)
    unrelated = {LookupError, ValueError, RuntimeError, PermissionError} - {builtin}
    for base in unrelated:
        assert not issubclass(error, base), f"{error.__name__} should not be a {base.__name__}"


def test_base_error_code_and_bases() -> None:
    assert KilnError.error_code == "INTERNAL_ERROR"
    assert KilnError.__bases__ == (Exception,)


def test_error_codes_are_unique() -> None:
    codes = [code for _, _, code in TREE] + [KilnError.error_code]
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("error", [KilnError] + [error for error, _, _ in TREE])
def test_message_and_field(error: type[KilnError]) -> None:
    message = "project 'x' does not exist: create it with `kiln projects create`"

    plain = error(message)
    with_field = error("name 'Bad Name!' is not valid", field="body.name")

    assert str(plain) == message
    assert plain.message == message
    assert plain.args == (message,)
    assert plain.field is None
    assert with_field.field == "body.name"
    assert str(with_field) == "name 'Bad Name!' is not valid"


def test_field_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        InvalidInput("message", "body.name")  # type: ignore[misc]


@pytest.mark.parametrize(("error", "builtin", "code"), TREE)
def test_error_class_maps_each_code_back_to_its_class(
    error: type[KilnError], builtin: type[Exception], code: str
) -> None:
    assert error_class(code) is error


@pytest.mark.parametrize("code", ["INTERNAL_ERROR", "TOO_MANY_REQUESTS", "", "not_found"])
def test_error_class_falls_back_to_kiln_error(code: str) -> None:
    assert error_class(code) is KilnError


def test_kiln_reexports_every_error_class() -> None:
    classes = [name for name in errors.__all__ if isinstance(getattr(errors, name), type)]

    assert sorted(classes) == sorted(["KilnError"] + [error.__name__ for error, _, _ in TREE])
    for name in classes:
        assert name in kiln.__all__
        assert getattr(kiln, name) is getattr(errors, name)


def test_errors_module_imports_no_third_party_or_other_kiln_code() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import kiln.errors\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout)

    assert "kiln.errors" in loaded
    kiln_modules = {name for name in loaded if name.split(".")[0] == "kiln"}
    assert kiln_modules <= {"kiln", "kiln._version", "kiln.errors"}
    stdlib = sys.stdlib_module_names
    third_party = [
        name for name in loaded if name.split(".")[0] not in stdlib and name.split(".")[0] != "kiln"
    ]
    assert third_party == []
