"""The node's HTTP API (FastAPI): create_app builds it from its routers; every command of the
one registry (services/command_registry.py) is a route."""

from services.http.app import create_app

__all__ = ["create_app"]
