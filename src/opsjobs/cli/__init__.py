"""The ``opsjobs`` command: serve, migrate, and operators' administration.

This module imports nothing until ``main`` runs: the console script imports it, and so does
every process that ``multiprocessing`` spawns from a command (the import's parser,
store/importing.py), which has no use for the commands, the configuration or the logging.
"""


def main() -> None:
    from ..config import Settings
    from ..logs import configure
    from .commands import app

    # One logging configuration for every command, `serve` and `runner` included (logs.py).
    settings = Settings.from_env()  # a value it does not accept stops here, in one line
    configure(settings.log_level, settings.log_format)
    app()
