"""API documentation pages that work without internet: Swagger UI at ``/docs``, ReDoc at
``/redoc``.

FastAPI's defaults load both from a CDN and bootstrap Swagger UI with an inline script. Here
the assets come from the ``fastapi-offline`` package (which ships Swagger UI's and ReDoc's
standalone bundles) and are served under ``/docs/assets``; Swagger UI is started by a small
script of ours at ``/docs/swagger-init.js`` that reads its settings from its own ``data-*``
attributes. The pages therefore run under a policy without ``'unsafe-inline'`` scripts and
without any foreign host (``app.utils.security.DOCS_CSP``).
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from pathlib import Path
from typing import Final

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL: Final = "/docs"
REDOC_URL: Final = "/redoc"
ASSETS_URL: Final = "/docs/assets"
SWAGGER_INIT_URL: Final = "/docs/swagger-init.js"

# The directory fastapi-offline ships: swagger-ui-bundle.js, swagger-ui.css,
# redoc.standalone.js, favicon.png.
ASSETS_DIR: Final = Path(str(files("fastapi_offline") / "static"))

# Swagger UI's options (https://swagger.io/docs/open-source-tools/swagger-ui/usage/configuration/):
# persistAuthorization keeps the pasted JWT across reloads (in the browser's localStorage).
SWAGGER_UI_OPTIONS: Final = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
    "persistAuthorization": True,
    "displayRequestDuration": True,
    "tryItOutEnabled": True,
}

# Runs from 'self'; the spec URL and options come from the script tag's data attributes.
SWAGGER_INIT_JS: Final = """\
(function () {
  "use strict";
  var tag = document.currentScript;
  var options = JSON.parse(tag.dataset.options);
  options.url = tag.dataset.openapiUrl;
  options.presets = [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset];
  window.ui = SwaggerUIBundle(options);
})();
"""

_SWAGGER_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{init}" data-openapi-url="{openapi}" data-options="{options}"></script>
</body>
</html>
"""

_REDOC_PAGE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
</head>
<body>
<redoc spec-url="{openapi}"></redoc>
<script src="{assets}/redoc.standalone.js"></script>
</body>
</html>
"""


def _page(template: str, request: Request, app: FastAPI) -> HTMLResponse:
    root = str(request.scope.get("root_path", ""))
    text = template.format(
        title=html.escape(app.title),
        assets=html.escape(root + ASSETS_URL),
        init=html.escape(root + SWAGGER_INIT_URL),
        openapi=html.escape(root + str(app.openapi_url)),
        options=html.escape(json.dumps(SWAGGER_UI_OPTIONS)),
    )
    return HTMLResponse(text)


def install_docs(app: FastAPI) -> None:
    """Serve the documentation pages and their assets (the app's ``openapi_url`` must be set)."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOCS_URL)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return _page(_SWAGGER_PAGE, request, app)

    @router.get(SWAGGER_INIT_URL)
    async def swagger_init() -> Response:
        return Response(SWAGGER_INIT_JS, media_type="text/javascript")

    @router.get(REDOC_URL)
    async def redoc(request: Request) -> HTMLResponse:
        return _page(_REDOC_PAGE, request, app)

    app.include_router(router)
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
