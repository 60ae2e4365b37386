"""Where a remote user's settings come from: the environment, else a TOML file.

=====================  ===================  =============================================
environment            file key             meaning
=====================  ===================  =============================================
``OPSJOBS_URL``        ``url``              the server, e.g. ``https://opsjobs.example``
``OPSJOBS_USER``       ``user``             login, with the password below
``OPSJOBS_PASSWORD``   ``password``         its password
``OPSJOBS_TOKEN``      ``token``            or an API token instead of both
``OPSJOBS_CA_FILE``    ``ca_file``          CA certificates (PEM) to verify the server with
=====================  ===================  =============================================

The file is ``$OPSJOBS_CLIENT_CONFIG``, else ``$XDG_CONFIG_HOME/opsjobs/client.toml``
(``~/.config/opsjobs/client.toml``); it is optional. The environment wins, setting by
setting, except for credentials: when the environment holds any (user, password or token),
the file's are not used at all, so that a login never meets another source's password. A
file holding a password or token must be readable by its owner only, as ssh wants of keys.
"""

from __future__ import annotations

import os
import ssl
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .asynchronous import AsyncClient
from .errors import ConfigError
from .sync import Client

VARIABLES = {
    "url": "OPSJOBS_URL",
    "user": "OPSJOBS_USER",
    "password": "OPSJOBS_PASSWORD",
    "token": "OPSJOBS_TOKEN",
    "ca_file": "OPSJOBS_CA_FILE",
}
CREDENTIALS = ("user", "password", "token")
FILE_VARIABLE = "OPSJOBS_CLIENT_CONFIG"


def default_path(environ: Mapping[str, str]) -> Path:
    if environ.get(FILE_VARIABLE):
        return Path(environ[FILE_VARIABLE])
    home = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(home) / "opsjobs" / "client.toml"


def read_file(path: Path) -> dict[str, str]:
    """The settings a file holds; ``{}`` when it does not exist."""
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from None
    try:
        values = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(values) - set(VARIABLES))
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {', '.join(VARIABLES)}")
    wrong = [key for key, value in values.items() if not isinstance(value, str)]
    if wrong:
        raise ConfigError(f"{path}: {wrong[0]} must be a string")
    if {"password", "token"} & set(values) and mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"{path} holds a secret and others may read it: chmod 600 {path}")
    return values


@dataclass(frozen=True)
class ClientConfig:
    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    ca_file: str | None = None

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        path: Path | None = None,
        url: str | None = None,
    ) -> ClientConfig:
        """The settings from ``environ`` (default ``os.environ``) and the file; ``url``, when
        given (a command line's ``--url``), wins over both."""
        environ = os.environ if environ is None else environ
        from_file = read_file(path or default_path(environ))
        from_env = {k: environ[v] for k, v in VARIABLES.items() if environ.get(v)}
        if any(k in from_env for k in CREDENTIALS):
            from_file = {k: v for k, v in from_file.items() if k not in CREDENTIALS}
        values: dict[str, Any] = {**from_file, **from_env}
        if url:
            values["url"] = url
        if not values.get("url"):
            raise ConfigError(
                f"no server: set {VARIABLES['url']} or url in {path or default_path(environ)}"
            )
        return cls(**values)

    def verify(self) -> ssl.SSLContext | bool:
        """How to verify an https server: the system's CAs, or those of ``ca_file``."""
        if not self.ca_file:
            return True
        try:
            return ssl.create_default_context(cafile=self.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"ca_file {self.ca_file}: {exc}") from None

    def _options(self) -> dict[str, Any]:
        return {
            "login": self.user,
            "password": self.password,
            "token": self.token,
            "verify": self.verify(),
        }

    def client(self, **options: Any) -> Client:
        return Client(self.url, **{**self._options(), **options})

    def async_client(self, **options: Any) -> AsyncClient:
        return AsyncClient(self.url, **{**self._options(), **options})
