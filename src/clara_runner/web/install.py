"""How the server takes the Manager in: its pages, its assets, and `/` pointing at it."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from clara_runner.web.routes import console, deploy, deployment, keys, manager, sign_in
from clara_runner.web.templating import STATIC_URL

_STATIC = Path(__file__).parent / "static"


def install_manager(app: FastAPI) -> None:
    app.mount(STATIC_URL, StaticFiles(directory=_STATIC), name="manager-assets")
    app.add_api_route("/", manager.home, methods=["GET"], include_in_schema=False)
    for router in (
        sign_in.public,
        sign_in.signed_in,
        manager.router,
        deploy.router,
        deployment.router,
        keys.router,
        console.router,
    ):
        app.include_router(router)
