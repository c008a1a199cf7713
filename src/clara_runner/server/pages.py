"""HTML pages: Swagger UI and ReDoc for a workflow and for the management API, from local assets only.

Every value placed in a page is HTML-escaped (a deployment named `<script>` stays text), and no page
carries an inline script, so a strict Content-Security-Policy forbids anything else. The pages start
their viewer from a small script file that reads the document URL from a `data-` attribute.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from clara_runner.contract.snippets import SNIPPET_TITLES

ASSETS = "/api/static"
REDOC_BUNDLE = f"{ASSETS}/redoc/redoc.standalone.js"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; "
    "frame-ancestors 'none'"
)


def _head(title: str, *stylesheets: str) -> str:
    links = "".join(f'<link rel="stylesheet" href="{href}">\n' for href in stylesheets)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} - API Documentation</title>
<link rel="icon" href="{ASSETS}/vendor/favicon.png">
{links}</head>
"""


def _snippets(snippets: Mapping[str, str], other_view: str | None) -> str:
    if not snippets and not other_view:
        return ""
    blocks = "".join(
        f"<h3>{escape(SNIPPET_TITLES.get(language, language))}</h3>\n"
        f'<pre class="clara-snippet" data-language="{escape(language, quote=True)}">'
        f"<code>{escape(source)}</code></pre>\n"
        for language, source in snippets.items()
    )
    link = f'<p><a href="{escape(other_view, quote=True)}">Reference view (ReDoc)</a></p>\n' if other_view else ""
    summary = "<summary>Code samples: call this API with curl, Python or JavaScript (sync, stream, async)</summary>\n"
    details = f'<details class="clara-snippets">\n{summary}{blocks}</details>\n' if snippets else ""
    return f'<section class="clara-header">\n{link}{details}</section>\n'


def swagger_page(
    title: str, openapi_url: str, snippets: Mapping[str, str] | None = None, redoc_url: str | None = None
) -> str:
    """Swagger UI with try-it-out, optionally preceded by code samples and a link to the ReDoc view."""
    return (
        _head(title, f"{ASSETS}/vendor/swagger-ui.css", f"{ASSETS}/app/docs.css")
        + "<body>\n"
        + _snippets(snippets or {}, redoc_url)
        + f'<div id="swagger-ui" data-openapi-url="{escape(openapi_url, quote=True)}"></div>\n'
        + f'<script src="{ASSETS}/vendor/swagger-ui-bundle.js"></script>\n'
        + f'<script src="{ASSETS}/app/swagger-init.js"></script>\n'
        + "</body>\n</html>\n"
    )


def redoc_page(title: str, openapi_url: str) -> str:
    """ReDoc, the three-panel reference view with the code samples of `x-codeSamples`."""
    return (
        _head(title, f"{ASSETS}/app/docs.css")
        + "<body>\n"
        + f'<div id="redoc" data-openapi-url="{escape(openapi_url, quote=True)}"></div>\n'
        + f'<script src="{REDOC_BUNDLE}"></script>\n'
        + f'<script src="{ASSETS}/app/redoc-init.js"></script>\n'
        + "</body>\n</html>\n"
    )
