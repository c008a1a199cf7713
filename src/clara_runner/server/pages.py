"""HTML pages: Swagger UI for a workflow and for the management API, from local assets only.

Every value placed in the page is HTML-escaped (a deployment named `<script>` stays text), and the
page carries no inline script, so a strict Content-Security-Policy forbids anything else.
"""

from __future__ import annotations

from html import escape

ASSETS = "/api/static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'"
)


def swagger_page(title: str, openapi_url: str) -> str:
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - API Documentation</title>
<link rel="icon" href="{ASSETS}/vendor/favicon.png">
<link rel="stylesheet" href="{ASSETS}/vendor/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{escape(openapi_url, quote=True)}"></div>
<script src="{ASSETS}/vendor/swagger-ui-bundle.js"></script>
<script src="{ASSETS}/app/swagger-init.js"></script>
</body>
</html>
"""
