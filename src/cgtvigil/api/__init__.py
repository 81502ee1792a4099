"""The HTTP API (L5): ``create_app(settings)``."""

from cgtvigil.api._app import create_app

__all__ = ["create_app"]
