"""`opsjobs remote`: the commands that drive a server elsewhere through opsjobs.client."""

from .commands import app

__all__ = ["app"]
