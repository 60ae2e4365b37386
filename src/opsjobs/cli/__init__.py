"""The ``opsjobs`` command: serve, migrate, and operators' administration."""

from .commands import app


def main() -> None:
    app()
