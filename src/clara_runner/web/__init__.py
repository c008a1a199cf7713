"""The Deployment Manager: server-rendered pages (Jinja2 + htmx) over the same use cases as the API.

Served by the API's own server under `/manage` (`install.py`); its assets are vendored in `static/`.
"""
