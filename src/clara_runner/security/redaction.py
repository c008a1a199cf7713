"""Secrets never leave the server: what counts as one, and how it is replaced by `[REDACTED]`.

Three rules decide what is secret:

1. **Key names.** A value stored under a key whose name means "secret" (`apiKey`, `customProviderKey`,
   `token`, `password`, `secret`, `Authorization`, `X-API-Key`, `cookie`, ... compared without case,
   `-` or `_`; see `is_sensitive_key`) is replaced wherever it is recorded, returned or logged.
2. **Known values.** The values found that way in a workflow (node data, api-request `headers` given as
   an object, a list of `{key, value}` pairs or JSON text, custom-node properties whose name is
   secret), the values of input fields marked `data.sensitive: true`, the caller's bearer key and the
   operator's own keys (`OPENAI_API_KEY`, `CLARA_ADMIN_KEY`, ...) are replaced wherever they appear
   inside any other text: an upstream error that echoes a key, a node output, a log line. Values
   shorter than `MIN_SECRET_LENGTH` characters are only redacted under a secret key name, so that a
   password like `abc` does not blank out every `abc` in a response.
3. **Shapes.** `Bearer <token>` / `Basic <token>`, Clara keys (`clara_sk_...`), provider keys
   (`sk-...`) and secret-named query parameters (`?api_key=...`) are replaced in any text.

The execute service builds one `Redactor` per run (server secrets + the workflow's + the request's),
applies it to everything it records and returns, and exposes it to the logging processor through a
context variable so that log lines written during the run are redacted with the same knowledge.
"""

from __future__ import annotations

import contextvars
import functools
import json
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import Any, Final

from clara_runner.flow.model import Flow, Node
from clara_runner.jsonio import flat_texts, slices

REDACTED: Final = "[REDACTED]"
MIN_SECRET_LENGTH: Final = 6

_EXACT_KEYS: Final = frozenset(
    {
        "token",
        "auth",
        "pass",
        "pwd",
        "cookie",
        "setcookie",
        "bearer",
        "apitoken",
        "idtoken",
        "sessionid",
        "clientsecret",
        "signature",
    }
)
_KEY_SUFFIXES: Final = (
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "providerkey",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "authorization",
    "accesstoken",
    "refreshtoken",
    "authtoken",
    "sessiontoken",
    "bearertoken",
    "credential",
    "credentials",
)
_KEY_NOISE = re.compile(r"[\s_\-.]")
_SHAPES: Final = (
    (
        r"(?P<scheme>\b(?:[Bb]earer|BEARER|[Bb]asic|BASIC)\s+)(?!clara_sk_\.\.\.)[A-Za-z0-9._~+/=-]{6,}",
        ("earer", "EARER", "asic", "ASIC"),
    ),
    (r"\bclara_sk_[A-Za-z0-9_]{6,}", ("clara_sk_",)),
    (r"\bsk-[A-Za-z0-9_-]{16,}", ("sk-",)),
    (r"(?P<param>[?&;](?:api[_-]?key|key|token|access_token|password|secret|signature)=)[^&#\s\"']+", ("=",)),
)
"""Secret shapes, each with texts one of which every match contains: a text that holds none of them (and
no known secret) cannot match, which a substring search tells many times faster than the pattern. The
key placeholder `Bearer clara_sk_...` of the server's own hints is not a secret: it stays."""
_SHAPE_FIRSTS: Final = "Bbcs?&;"
"""Every character a `_SHAPES` match can start with."""
_LIST_KEY_FIELDS: Final = ("key", "name", "header")
_JOINT: Final = "\x00"
"""Joins the strings of a flat list for one search over them all (see `Redactor.leaves`)."""
_JSON_TEXT_START = re.compile(r"(?:^|\x00)\s*[\[{]")
_JSON_TEXT_NEEDLES: Final = ("{", "[")

active_redactor: contextvars.ContextVar[Redactor | None] = contextvars.ContextVar("clara_redactor", default=None)
"""The redactor of the run in progress (set by the execute service), used by the log processor."""


def is_sensitive_key(key: str) -> bool:
    """True when a field or header named `key` holds a secret (`apiKey`, `X-Api-Key`, `db_password`...)."""
    normalised = _KEY_NOISE.sub("", key).lower()
    return normalised in _EXACT_KEYS or normalised.endswith(_KEY_SUFFIXES)


class Redactor:
    """Replaces secrets in text and in JSON-like values. Immutable; `with_secrets` makes a wider one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: frozenset[str] = frozenset(
            secret for secret in secrets if isinstance(secret, str) and len(secret) >= MIN_SECRET_LENGTH
        )
        known = [re.escape(secret) for secret in sorted(self.secrets, key=len, reverse=True)]
        firsts = "".join(sorted({re.escape(secret[0]) for secret in self.secrets} | set(_SHAPE_FIRSTS)))
        # The lookahead lets the engine skip, in one step, every position where no match can start.
        shapes = [pattern for pattern, _ in _SHAPES]
        self._pattern = re.compile(f"(?=[{firsts}])(?:{'|'.join([*known, *shapes])})")
        self._needles = (*self.secrets, *(needle for _, needles in _SHAPES for needle in needles))

    def with_secrets(self, secrets: Iterable[str]) -> Redactor:
        extra = frozenset(secrets) - self.secrets
        return _redactor(self.secrets | extra) if extra else self

    def text(self, text: str) -> str:
        return self._pattern.sub(_replacement, text)

    def leaves(self, texts: Sequence[str]) -> bool:
        """True when `text` would change none of `texts`, found by searching their joined text (a few
        calls in C) rather than substituting in each: no match inside one string can be lost by joining,
        since nothing in the pattern anchors at a string's end and the joint is not a word character. A
        match that spans a joint only sends the list back to the one-by-one path."""
        return not _any_joined(self._pattern, self._needles, texts)

    def value(self, value: Any, clean: Callable[[str], str] | None = None) -> Any:
        """A copy of a JSON-like value with secret-named fields and secret text replaced (and, with
        `clean`, every string passed through it afterwards, in the same walk)."""
        if clean is None:
            return map_json(value, self.text, _hides, self.leaves)
        return map_json(value, lambda text: clean(self.text(text)), _hides)


def _any_joined(pattern: re.Pattern[str], needles: Sequence[str], texts: Sequence[str]) -> bool:
    """True when `pattern` matches somewhere in `texts` joined by `_JOINT`, searched a chunk at a time and
    only in chunks that hold one of `needles`, without which it cannot match."""
    for part in slices(texts):
        joined = _JOINT.join(part)
        if any(needle in joined for needle in needles) and pattern.search(joined):
            return True
    return False


def map_json(
    value: Any,
    on_text: Callable[[str], str],
    hides: Callable[[Any, Any], bool] = lambda *_: False,
    leaves: Callable[[Sequence[str]], bool] | None = None,
) -> Any:
    """A copy of a JSON-like value with `on_text` applied to every string (keys included) and the
    fields for which `hides(key, value)` holds replaced by `[REDACTED]`. `leaves(texts)`, when given,
    says at once that `on_text` changes none of a flat list's strings, which are then copied as they are.

    Iterative, so a value nested as deeply as JSON allows cannot exhaust the stack.
    """
    holder: list[Any] = [None]
    stack: list[tuple[Any, MutableMapping[Any, Any] | list[Any], Any]] = [(value, holder, 0)]
    while stack:
        item, parent, slot = stack.pop()
        if isinstance(item, str):
            parent[slot] = on_text(item)
        elif isinstance(item, Mapping):
            if leaves is not None and _left_as_is(item, hides, leaves):
                parent[slot] = dict(item)
                continue
            copy: dict[Any, Any] = {}
            parent[slot] = copy
            for key, child in item.items():
                name = on_text(key) if isinstance(key, str) else key
                if hides(key, child):
                    copy[name] = REDACTED
                else:
                    copy[name] = None
                    stack.append((child, copy, name))
        elif isinstance(item, list | tuple):
            texts = flat_texts(item)
            if texts is not None and (not texts or (leaves is not None and leaves(texts))):
                parent[slot] = list(item)
                continue
            items: list[Any] = [None] * len(item)
            parent[slot] = items
            stack.extend((child, items, index) for index, child in enumerate(item))
        else:
            parent[slot] = item
    return holder[0]


def _left_as_is(
    mapping: Mapping[Any, Any], hides: Callable[[Any, Any], bool], leaves: Callable[[Sequence[str]], bool]
) -> bool:
    """True for a mapping of plain values (a log line, a flat record) with no field to hide and no key or
    text `leaves` says would change: one search over all its strings instead of a visit to each."""
    values = flat_texts(list(mapping.values()))
    if values is None or any(hides(key, child) for key, child in mapping.items()):
        return False
    return leaves([*(key for key in mapping if isinstance(key, str)), *values])


@functools.lru_cache(maxsize=256)
def _redactor(secrets: frozenset[str]) -> Redactor:
    """Redactors for the same secrets (a workflow's, run after run) are built once."""
    return Redactor(secrets)


def _hides(key: Any, child: Any) -> bool:
    """A secret-named field with a value worth hiding (empty values and flags stay readable)."""
    empty = child is None or isinstance(child, bool) or child in ("", [], {})
    return isinstance(key, str) and not empty and is_sensitive_key(key)


def _replacement(match: re.Match[str]) -> str:
    prefix = match.group("scheme") or match.group("param") or ""
    return prefix + REDACTED


def secrets_in(value: Any, sensitive_keys: frozenset[str] = frozenset()) -> set[str]:
    """Every secret value inside a JSON-like value: under secret-named keys (or `sensitive_keys`),
    in `{key: "Authorization", value: ...}` pairs, and inside `headers` given as JSON text."""
    found: set[str] = set()
    stack: list[tuple[Any, bool]] = [(value, False)]
    while stack:
        item, secret = stack.pop()
        if isinstance(item, str):
            if secret:
                found.update(_token_forms(item))
            elif item.lstrip()[:1] in ("{", "[") and len(item) < 100_000:
                stack.extend((parsed, False) for parsed in _json_or_nothing(item))
        elif isinstance(item, Mapping):
            paired = any(
                isinstance(item.get(field), str) and is_sensitive_key(item[field]) for field in _LIST_KEY_FIELDS
            )
            for key, child in item.items():
                key_is_secret = isinstance(key, str) and (is_sensitive_key(key) or key in sensitive_keys)
                stack.append((child, secret or key_is_secret or (paired and key == "value")))
        elif isinstance(item, list | tuple):
            texts = None if secret else flat_texts(item)
            if texts is None:
                stack.extend((child, secret) for child in item)
            elif _any_joined(_JSON_TEXT_START, _JSON_TEXT_NEEDLES, texts):
                stack.extend((text, False) for text in texts)
        elif secret and isinstance(item, int | float) and not isinstance(item, bool):
            found.add(str(item))
    return found


def _token_forms(text: str) -> set[str]:
    """The secret itself and, for `Bearer abc...`, the token alone (an echo may drop the scheme)."""
    forms = {text.strip()}
    scheme, _, token = text.strip().partition(" ")
    if token and scheme.lower() in ("bearer", "basic", "token"):
        forms.add(token.strip())
    return forms


def _json_or_nothing(text: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except (ValueError, RecursionError):
        return []


def node_secrets(node: Node, sensitive_properties: frozenset[str] = frozenset()) -> set[str]:
    found = secrets_in(node.data, sensitive_properties)
    if node.data.get("sensitive") is True and node.data.get("value") not in (None, ""):
        found.update(_token_forms(str(node.data["value"])))
    return found


def workflow_secrets(flow: Flow) -> frozenset[str]:
    """Every secret a workflow carries in its node data (see the module docstring)."""
    sensitive_properties = {
        definition.type: frozenset(prop.id for prop in definition.properties if is_sensitive_key(prop.name))
        for definition in flow.custom_nodes
    }
    found: set[str] = set()
    for node in flow.nodes:
        found |= node_secrets(node, sensitive_properties.get(node.type, frozenset()))
    return frozenset(found)


class WorkflowSecrets:
    """`workflow_secrets` computed once per compiled flow (flows are immutable and cached upstream)."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._found: OrderedDict[int, tuple[Flow, frozenset[str]]] = OrderedDict()

    def of(self, flow: Flow) -> frozenset[str]:
        cached = self._found.get(id(flow))
        if cached is not None and cached[0] is flow:
            self._found.move_to_end(id(flow))
            return cached[1]
        secrets = workflow_secrets(flow)
        self._found[id(flow)] = (flow, secrets)
        if len(self._found) > self._size:
            self._found.popitem(last=False)
        return secrets


def log_processor(server: Redactor) -> Any:
    """A structlog processor: redacts every event field with the running execution's redactor when
    there is one, else with the server's own secrets and the secret shapes."""

    def redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        redactor = active_redactor.get() or server
        redacted: dict[str, Any] = redactor.value(dict(event))
        return redacted

    return redact
