"""The node's HTTP API (FastAPI): services/http/app.py's create_app builds it from the routers
of this package; every command of the one registry (services/command_registry.py) is a route
of services/http/commands.py. Nothing is imported here, so that a module of the web pages can
use services/http/common.py without building the API."""

__all__: list[str] = []
