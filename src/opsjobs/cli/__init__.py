"""The ``opsjobs`` command: serve, migrate, and operators' administration."""

from ..config import Settings
from ..logs import configure
from .commands import app


def main() -> None:
    # One logging configuration for every command, `serve` and `runner` included (logs.py).
    settings = Settings.from_env()  # a value it does not accept stops here, in one line
    configure(settings.log_level, settings.log_format)
    app()
