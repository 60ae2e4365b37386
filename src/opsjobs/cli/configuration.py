"""``opsjobs config show``: the effective settings, where each came from, secrets masked."""

from __future__ import annotations

import orjson
import typer

from ..config import declared, masked, resolve
from .runtime import ConfigFile

app = typer.Typer(help="Settings.", no_args_is_help=True)


def _rendered(value: object) -> str:
    """A value as TOML writes it (a setting with no value as a comment)."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return "[" + ", ".join(_rendered(item) for item in value) + "]"
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return repr(value)


@app.command("show")
def show(
    config: ConfigFile = None,
    as_json: bool = typer.Option(False, "--json", help="one JSON object, for programs"),
) -> None:
    """Print every setting's effective value and where it came from: default, file (the
    --config file or OPSJOBS_CONFIG) or env (its OPSJOBS_* variable). Secrets are masked:
    the password in a URL, and the whole of any other secret."""
    resolved = resolve()
    rows = [
        (s.name, masked(s, getattr(resolved.settings, s.name)), resolved.sources[s.name])
        for s in declared()
    ]
    if as_json:
        document = {name: {"value": value, "source": source} for name, value, source in rows}
        print(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(name) for name, _, _ in rows)
    for name, value, source in rows:
        print(f"{name:<{width}} = {_rendered(value)}  # {source}")


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="config")
