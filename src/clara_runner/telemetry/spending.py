"""What runs cost by the operator's price table (`USAGE_PRICES`): nothing is fetched, and a server
without a table reports no cost.

The table maps a model name to its prices per million tokens, e.g.
`{"gpt-4o": {"prompt": 2.5, "completion": 10}, "*": {"prompt": 1, "completion": 2}}` (`*`: any model not
named). Each LLM call is priced by the model that answered, else the one asked for, and charged to the
run it belongs to: the run sets its `Spending` for its own task (a context variable, so its nodes' tasks
inherit it) and reads the sum when it ends. Costs are kept in millionths of the table's currency, so
sums stay exact integers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

ANY_MODEL = "*"


@dataclass(frozen=True, slots=True)
class Price:
    prompt: float
    """Per million prompt tokens."""
    completion: float


class PriceTable:
    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)

    def cost_micros(self, models: tuple[str | None, ...], prompt_tokens: int, completion_tokens: int) -> int | None:
        """The cost of a call in millionths, priced by the first of `models` the table names (or `*`)."""
        price = next((self._prices[model] for model in models if model in self._prices), None)
        price = price or self._prices.get(ANY_MODEL)
        if price is None:
            return None
        return round(prompt_tokens * price.prompt + completion_tokens * price.completion)


def parse_prices(text: str) -> PriceTable | None:
    """The table in `USAGE_PRICES` (None when unset); a ValueError says what is wrong with it."""
    if not text.strip():
        return None
    try:
        value: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"USAGE_PRICES is not JSON: {exc}") from exc
    example = '{"gpt-4o": {"prompt": 2.5, "completion": 10}}'
    if not isinstance(value, dict):
        raise ValueError(f"USAGE_PRICES must be an object of models, such as {example}")
    prices: dict[str, Price] = {}
    for model, entry in value.items():
        if not (
            isinstance(entry, dict) and set(entry) == {"prompt", "completion"} and all(map(_amount, entry.values()))
        ):
            raise ValueError(
                f'USAGE_PRICES[{model!r}] must be {{"prompt": <price>, "completion": <price>}} per million '
                f"tokens, each a number >= 0"
            )
        prices[model] = Price(float(entry["prompt"]), float(entry["completion"]))
    return PriceTable(prices)


def _amount(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


class Spending:
    """One run's cost so far (None while nothing it called was priced)."""

    __slots__ = ("micros",)

    def __init__(self) -> None:
        self.micros: int | None = None


class Prices:
    """The process's price table (`configure`)."""

    table: PriceTable | None = None


_current: ContextVar[Spending | None] = ContextVar("clara_run_spending", default=None)


def configure(table: PriceTable | None) -> None:
    Prices.table = table


def charged_to(spending: Spending) -> AbstractContextManager[None]:
    """Charge the LLM calls made inside the block (and in the tasks it starts) to `spending` (nothing to do
    without a price table)."""
    return _NOTHING if Prices.table is None else _charging(spending)


_NOTHING = nullcontext()


@contextmanager
def _charging(spending: Spending) -> Iterator[None]:
    token = _current.set(spending)
    try:
        yield
    finally:
        _current.reset(token)


def charge(models: tuple[str | None, ...], prompt_tokens: int | None, completion_tokens: int | None) -> None:
    """Price one LLM call and add it to the current run's spending, if there is a table and a run."""
    table, spending = Prices.table, _current.get()
    if table is None or spending is None or prompt_tokens is None or completion_tokens is None:
        return
    micros = table.cost_micros(models, prompt_tokens, completion_tokens)
    if micros is not None:
        spending.micros = (spending.micros or 0) + micros
