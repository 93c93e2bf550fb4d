"""Settings: the order of sources, the defaults, validation and masking."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from kiln.config import CONFIG_FILE_NAME, DEFAULT_PORT, Settings, mask_url


def write_toml(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / CONFIG_FILE_NAME
    path.write_text(text)
    return path


@pytest.fixture
def user_home(tmp_path: Path) -> Path:
    """The HOME the autouse fixture points at (``~`` expands to it)."""
    return tmp_path / "user-home"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, apart from the test's other folders."""
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


# --- defaults ---------------------------------------------------------------


def test_defaults_live_under_home_dot_kiln(user_home: Path, workdir: Path) -> None:
    settings = Settings()

    home = user_home / ".kiln"
    assert settings.home == home
    assert settings.home.is_absolute()
    assert settings.database_url is None
    assert settings.resolved_database_url == f"sqlite:///{home / 'kiln.db'}"
    assert settings.artifact_root is None
    assert settings.resolved_artifact_root == str(home / "artifacts")
    assert settings.project == "default"
    assert settings.port == DEFAULT_PORT
    assert settings.host == "127.0.0.1"
    assert settings.auth is False
    assert settings.token is None


def test_home_is_expanded_and_made_absolute(user_home: Path, workdir: Path) -> None:
    assert Settings(home="~/elsewhere").home == user_home / "elsewhere"
    assert Settings(home="relative").home == workdir / "relative"


def test_the_defaults_follow_the_home_folder(tmp_path: Path, workdir: Path) -> None:
    settings = Settings(home=tmp_path / "custom")

    assert settings.resolved_database_url == f"sqlite:///{tmp_path / 'custom' / 'kiln.db'}"
    assert settings.resolved_artifact_root == str(tmp_path / "custom" / "artifacts")


def test_given_urls_are_used_as_they_are(workdir: Path) -> None:
    settings = Settings(database_url="postgresql://db/kiln", artifact_root="s3://bucket/kiln")

    assert settings.resolved_database_url == "postgresql://db/kiln"
    assert settings.resolved_artifact_root == "s3://bucket/kiln"


# --- precedence -------------------------------------------------------------


@pytest.fixture
def every_source(tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """``project`` and ``port`` set in both kiln.toml files and the environment."""
    home = tmp_path / "kiln-home"
    write_toml(home, 'project = "from-home-toml"\nport = 1001\nlog_level = "home-toml"\n')
    write_toml(workdir, 'project = "from-cwd-toml"\nport = 1002\nhost = "0.0.0.0"\n')
    monkeypatch.setenv("KILN_HOME", str(home))
    monkeypatch.setenv("KILN_PROJECT", "from-env")
    monkeypatch.setenv("KILN_PORT", "1003")
    return {"home": home, "workdir": workdir}


def test_arguments_win_over_everything(every_source: dict[str, Path]) -> None:
    settings = Settings(project="from-argument", port=1004)

    assert settings.project == "from-argument"
    assert settings.port == 1004


def test_environment_wins_over_both_files(every_source: dict[str, Path]) -> None:
    settings = Settings()

    assert settings.project == "from-env"
    assert settings.port == 1003


def test_cwd_toml_wins_over_home_toml(
    every_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KILN_PROJECT")
    monkeypatch.delenv("KILN_PORT")

    settings = Settings()

    assert settings.project == "from-cwd-toml"
    assert settings.port == 1002
    assert settings.host == "0.0.0.0"
    # Keys only the home file sets still come from it.
    assert settings.log_level == "home-toml"


def test_home_toml_wins_over_defaults(
    every_source: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KILN_PROJECT")
    monkeypatch.delenv("KILN_PORT")
    (every_source["workdir"] / CONFIG_FILE_NAME).unlink()

    settings = Settings()

    assert settings.home == every_source["home"]
    assert settings.project == "from-home-toml"
    assert settings.port == 1001
    assert settings.host == "127.0.0.1"


def test_home_toml_is_read_from_the_default_home(user_home: Path, workdir: Path) -> None:
    write_toml(user_home / ".kiln", 'project = "in-default-home"\n')

    assert Settings().project == "in-default-home"


def test_kiln_home_decides_which_home_toml_is_read(
    tmp_path: Path, user_home: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(user_home / ".kiln", 'project = "in-default-home"\n')
    write_toml(tmp_path / "other-home", 'project = "in-other-home"\n')
    monkeypatch.setenv("KILN_HOME", str(tmp_path / "other-home"))

    settings = Settings()

    assert settings.home == tmp_path / "other-home"
    assert settings.project == "in-other-home"


def test_home_argument_decides_which_home_toml_is_read(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_toml(tmp_path / "env-home", 'project = "in-env-home"\n')
    write_toml(tmp_path / "arg-home", 'project = "in-arg-home"\n')
    monkeypatch.setenv("KILN_HOME", str(tmp_path / "env-home"))

    assert Settings(home=tmp_path / "arg-home").project == "in-arg-home"


def test_home_set_in_cwd_toml_decides_which_home_toml_is_read(
    tmp_path: Path, workdir: Path
) -> None:
    home = tmp_path / "toml-home"
    write_toml(home, 'project = "in-toml-home"\nport = 1005\n')
    write_toml(workdir, f'home = "{home.as_posix()}"\nport = 1006\n')

    settings = Settings()

    assert settings.home == home
    assert settings.project == "in-toml-home"
    assert settings.port == 1006


def test_home_may_be_the_working_directory(workdir: Path) -> None:
    write_toml(workdir, 'project = "here"\n')

    settings = Settings(home=workdir)

    assert settings.project == "here"


def test_every_field_reads_its_kiln_variable(
    tmp_path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KILN_DATABASE_URL", "postgresql://kiln@db/kiln")
    monkeypatch.setenv("KILN_ARTIFACT_ROOT", "s3://bucket")
    monkeypatch.setenv("KILN_SERVER_URL", "http://kiln.example.com")
    monkeypatch.setenv("KILN_TOKEN", "kiln_secret")
    monkeypatch.setenv("KILN_AUTH", "true")
    monkeypatch.setenv("KILN_HOST", "0.0.0.0")
    monkeypatch.setenv("KILN_LOG_LEVEL", "debug")

    settings = Settings()

    assert settings.database_url == "postgresql://kiln@db/kiln"
    assert settings.artifact_root == "s3://bucket"
    assert settings.server_url == "http://kiln.example.com"
    assert settings.token is not None
    assert settings.token.get_secret_value() == "kiln_secret"
    assert settings.auth is True
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "debug"


# --- validation -------------------------------------------------------------


def test_unknown_key_in_cwd_toml_is_refused(workdir: Path) -> None:
    write_toml(workdir, "databse_url = 'sqlite://'\n")

    with pytest.raises(ValidationError, match="databse_url"):
        Settings()


def test_unknown_key_in_home_toml_is_refused(tmp_path: Path, workdir: Path) -> None:
    write_toml(tmp_path / "kiln-home", "colour = 'blue'\n")

    with pytest.raises(ValidationError, match="colour"):
        Settings(home=tmp_path / "kiln-home")


@pytest.mark.parametrize("text", ["port = 0", "port = 65536", 'port = "abc"'])
def test_bad_port_in_toml_is_refused(workdir: Path, text: str) -> None:
    write_toml(workdir, text + "\n")

    with pytest.raises(ValidationError, match="port"):
        Settings()


@pytest.mark.parametrize("value", ["0", "abc", "-1"])
def test_bad_port_in_environment_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("KILN_PORT", value)

    with pytest.raises(ValidationError, match="port"):
        Settings()


def test_unknown_argument_is_refused(workdir: Path) -> None:
    with pytest.raises(ValidationError, match="prot"):
        Settings(prot=8000)  # type: ignore[call-arg]


def test_settings_are_frozen(workdir: Path) -> None:
    settings = Settings(port=8001)

    with pytest.raises(ValidationError, match="frozen"):
        settings.port = 8002  # type: ignore[misc]
    assert settings.port == 8001


# --- masking ----------------------------------------------------------------


def test_masked_hides_database_password_and_token(workdir: Path) -> None:
    settings = Settings(
        database_url="postgresql://kiln:hunter2@db.example.com:5432/kiln",
        server_url="https://ops:s3cret@kiln.example.com",
        token="kiln_abc_def",
    )

    masked = settings.masked()

    assert masked["database_url"] == "postgresql://kiln:***@db.example.com:5432/kiln"
    assert masked["server_url"] == "https://ops:***@kiln.example.com"
    assert masked["token"] == "********"
    text = repr(masked)
    for secret in ("hunter2", "s3cret", "kiln_abc_def"):
        assert secret not in text


def test_masked_shows_resolved_defaults(tmp_path: Path, workdir: Path) -> None:
    masked = Settings(home=tmp_path / "h").masked()

    assert masked["home"] == str(tmp_path / "h")
    assert masked["database_url"] == f"sqlite:///{tmp_path / 'h' / 'kiln.db'}"
    assert masked["artifact_root"] == str(tmp_path / "h" / "artifacts")
    assert masked["token"] is None
    assert masked["server_url"] is None
    assert masked["port"] == DEFAULT_PORT


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://kiln:hunter2@db:5432/kiln", "postgresql://kiln:***@db:5432/kiln"),
        (
            "postgresql+psycopg://u:p@host/db?sslmode=require",
            "postgresql+psycopg://u:***@host/db?sslmode=require",
        ),
        ("redis://:secret@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ],
)
def test_mask_url_replaces_the_password(url: str, expected: str) -> None:
    assert mask_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:////var/lib/kiln/kiln.db",
        "postgresql://kiln@db.example.com:5432/kiln",
        "s3://bucket/prefix",
        "/plain/folder",
    ],
)
def test_mask_url_leaves_passwordless_urls_unchanged(url: str) -> None:
    assert mask_url(url) == url


# --- nothing at import ------------------------------------------------------


def test_importing_config_reads_no_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    write_toml(broken, "this is [not toml\nport = 0\n")
    code = (
        "import kiln.config, kiln\n"
        "import sys\n"
        "try:\n"
        "    kiln.config.Settings()\n"
        "except Exception as error:\n"
        "    print(type(error).__name__)\n"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=broken, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    # The file is broken: only building Settings reads it, and then it fails.
    assert result.stdout.strip() != ""


def test_load_turns_bad_configuration_into_invalid_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kiln.errors import InvalidInput

    monkeypatch.setenv("KILN_PORT", "abc")
    with pytest.raises(InvalidInput, match="port") as caught:
        Settings.load()
    assert caught.value.field == "port"
    monkeypatch.delenv("KILN_PORT")
    (tmp_path / "kiln.toml").write_text("not [toml\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput, match="not valid TOML"):
        Settings.load()


def test_mask_url_keeps_ipv6_brackets() -> None:
    assert mask_url("postgresql://u:pw@[::1]:5432/db") == "postgresql://u:***@[::1]:5432/db"
