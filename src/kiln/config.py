"""Where things are: one typed ``Settings`` object, built once and passed down.

Sources, highest first:

1. arguments given to ``Settings(...)`` (and CLI options, which pass them on);
2. ``KILN_*`` environment variables (``KILN_DATABASE_URL``, ``KILN_AUTH``, ...);
3. ``kiln.toml`` in the working directory, then ``kiln.toml`` in ``KILN_HOME``;
4. defaults: ``KILN_HOME=~/.kiln``, a SQLite file and an artifact folder inside it.

Nothing in Kiln builds a ``Settings`` at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["CONFIG_FILE_NAME", "DEFAULT_PORT", "Settings", "mask_url"]

CONFIG_FILE_NAME = "kiln.toml"
DEFAULT_PORT = 8700


class Settings(BaseSettings):
    """Kiln's configuration. Every field can be set as ``KILN_<FIELD>``."""

    model_config = SettingsConfigDict(
        env_prefix="KILN_",
        extra="forbid",
        validate_default=True,
        frozen=True,
    )

    home: Path = Field(
        default_factory=lambda: Path("~/.kiln"),
        description="Folder holding the embedded database, artifacts and kiln.toml.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; default sqlite:///$KILN_HOME/kiln.db.",
    )
    artifact_root: str | None = Field(
        default=None,
        description="Folder or fsspec URL of the artifact store; default $KILN_HOME/artifacts.",
    )
    online_store_url: str | None = Field(
        default=None,
        description="Online feature store: sqlite:///path or redis://host:port/db; "
        "default sqlite:///$KILN_HOME/online.db.",
    )
    project: str = Field(default="default", description="Project used when none is named.")
    server_url: str | None = Field(
        default=None, description="A Kiln server to talk to instead of opening the store."
    )
    token: SecretStr | None = Field(default=None, description="API token sent to server_url.")
    auth: bool = Field(default=False, description="Require API tokens on the server.")
    host: str = Field(default="127.0.0.1", description="Address `kiln server` binds to.")
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, description="Port of `kiln server`.")
    log_level: str = Field(default="info", description="Log level of the server and CLI.")

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Build settings, turning a bad value or ``kiln.toml`` into ``InvalidInput``.

        Use this wherever a person's configuration is read (CLI, server, SDK):
        the message names the setting and where it came from.
        """
        import tomllib

        from pydantic import ValidationError

        from kiln.errors import InvalidInput

        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: {error['msg']}"
                for error in exc.errors()
            )
            first = exc.errors()[0]["loc"] if exc.errors() else ()
            raise InvalidInput(
                f"invalid Kiln configuration ({problems}); check the arguments, KILN_* "
                f"variables and {CONFIG_FILE_NAME} files",
                field=".".join(str(p) for p in first) or None,
            ) from None
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"a {CONFIG_FILE_NAME} file is not valid TOML: {exc}") from None

    @field_validator("home", mode="after")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @property
    def resolved_database_url(self) -> str:
        """The metadata store URL, with the embedded SQLite default filled in."""
        return self.database_url or f"sqlite:///{self.home / 'kiln.db'}"

    @property
    def resolved_artifact_root(self) -> str:
        """The artifact store location, with the embedded default filled in."""
        return self.artifact_root or str(self.home / "artifacts")

    @property
    def resolved_online_store_url(self) -> str:
        """The online feature store URL, with the embedded SQLite default filled in."""
        return self.online_store_url or f"sqlite:///{self.home / 'online.db'}"

    def masked(self) -> dict[str, Any]:
        """The resolved settings as a dict, with passwords and tokens hidden."""
        values = self.model_dump()
        values["home"] = str(self.home)
        values["database_url"] = mask_url(self.resolved_database_url)
        values["artifact_root"] = mask_url(self.resolved_artifact_root)
        values["online_store_url"] = mask_url(self.resolved_online_store_url)
        values["server_url"] = mask_url(self.server_url) if self.server_url else None
        values["token"] = "********" if self.token else None
        return values

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The home folder decides where the second kiln.toml lives, so find it
        # first by the same precedence the settings themselves follow.
        init_kwargs: dict[str, Any] = getattr(init_settings, "init_kwargs", {})
        cwd_file = Path.cwd() / CONFIG_FILE_NAME
        cwd_source = TomlConfigSettingsSource(settings_cls, toml_file=cwd_file)
        home = (
            init_kwargs.get("home")
            or os.environ.get("KILN_HOME")
            or cwd_source().get("home")
            or "~/.kiln"
        )
        home_file = Path(home).expanduser() / CONFIG_FILE_NAME
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, cwd_source]
        if home_file.resolve() != cwd_file.resolve():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=home_file))
        return tuple(sources)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for printing and logs)."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literals keep their brackets
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
