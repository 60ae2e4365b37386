"""Entry point for ASGI servers: ``opsjobs.api.asgi:create`` builds the app from the environment."""

from ..config import Settings
from .app import create_app


def create():
    return create_app(Settings.from_env())
