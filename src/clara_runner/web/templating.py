"""Rendering pages: one Jinja2 environment (autoescaped), and the headers every page is sent with.

Pages carry no inline script or style, so the Content-Security-Policy allows only this server's own
files: a name like `<script>` in a deployment stays text, and nothing on a page talks to another host.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from clara_runner import __version__
from clara_runner.clock import iso

STATIC_URL = "/manage/static"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_environment = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(moment: datetime | None) -> str:
    """A time as people read it, in UTC (the page's script shows it in the reader's zone too)."""
    return "never" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _duration(milliseconds: float | None) -> str:
    if milliseconds is None:
        return "-"
    if milliseconds < 1000:
        return f"{milliseconds:.0f} ms"
    return f"{milliseconds / 1000:.2f} s"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)


def _attribute_json(value: Any) -> Markup:
    """JSON for an attribute value such as `hx-headers` (escaped, so it stays one attribute)."""
    return Markup.escape(json.dumps(value, separators=(",", ":")))


_environment.filters.update(when=_when, iso=iso, duration=_duration, pretty=_pretty, attribute_json=_attribute_json)
_environment.globals.update(static=STATIC_URL, version=__version__)


def render_text(template: str, **context: Any) -> str:
    return _environment.get_template(template).render(**context)


def render(
    request: Request, template: str, status_code: int = 200, headers: dict[str, str] | None = None, **context: Any
) -> HTMLResponse:
    """The page (or, for an htmx request, the fragment) `template` renders, with the page headers."""
    visitor = getattr(request.state, "visitor", None)
    body = render_text(template, request=request, visitor=visitor, **context)
    return HTMLResponse(body, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})})
