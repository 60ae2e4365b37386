"""The ``opsjobs`` command: serve, migrate, and operators' administration."""

from ..config import Settings
from ..logs import configure
from .commands import app


def main() -> None:
    # One logging configuration for every command, `serve` and `runner` included (logs.py).
    configure(Settings.from_env().log_level)
    app()
