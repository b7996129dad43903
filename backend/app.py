"""The FastAPI application: JSON API under /api, pages at /, static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from web3 import Web3

from backend import __version__, chain
from backend.api import status
from backend.config import Settings
from backend.web import pages

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"


@dataclass
class AppState:
    """What every request may read: settings, the chain handle, the deployment."""

    settings: Settings
    w3: Web3
    deployment: chain.Deployment | None = None
    deployment_error: str | None = None
    extras: dict[str, object] = field(default_factory=dict)

    def refresh_deployment(self) -> None:
        """Look the deployment up again (the node may have been replaced)."""
        try:
            self.deployment = chain.find_deployment(self.w3, self.settings)
            self.deployment_error = None
        except chain.DeploymentError as exc:
            self.deployment, self.deployment_error = None, str(exc)
        except Exception as exc:  # the node is down or not a JSON-RPC node
            self.deployment, self.deployment_error = None, f"node at {self.settings.rpc_url} unreachable: {exc}"


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment by default)."""
    settings = settings or Settings()
    state = AppState(settings=settings, w3=chain.connect(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.refresh_deployment()
        if state.deployment_error:
            log.warning("%s", state.deployment_error)
        yield

    app = FastAPI(
        title="Indelible",
        version=__version__,
        description="A censorship-resistant discussion board: the index of an on-chain forum.",
        lifespan=lifespan,
    )
    app.state.indelible = state
    app.include_router(status.router)
    app.include_router(pages.router)
    STATIC_DIR.mkdir(exist_ok=True)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
