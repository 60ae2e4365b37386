"""Entry point for ASGI servers: ``opsjobs.api.asgi:create`` builds the app from the environment."""

from ..config import Settings
from ..logs import configure
from .app import create_app


def create():
    settings = Settings.from_env()
    configure(settings.log_level)  # a worker process may be started afresh (spawn)
    return create_app(settings)
