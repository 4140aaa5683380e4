"""Exact parsing of the numbers belts send: Hasura stringifies numerics, some setups send Int.

Never through float: `"12345678901234567890"` stays an int, `"1.50"` becomes Decimal("1.50").
Anything that is not a finite number raises NotANumber, which the rules turn into a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

Number = int | Decimal
#: ASCII only: str.isdigit() and Decimal() also take "²", "٣" or "1_000", which no belt sends as a number.
_INT = re.compile(r"[+-]?[0-9]+")
#: Integers longer than this stay Decimal (still exact): int() refuses > 4300 digits, and int(Decimal("1e9999999"))
#: would build a ten-million-digit number from nine characters of a text column.
_MAX_INT_DIGITS = 4000
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]?(?:nan|inf|infinity)", re.I)


class NotANumber(ValueError):
    """A value a belt sent as a number that is not a finite one (the rules make it a failure, never a pass)."""

    pass


def parse_number(value: object) -> Number:
    """A belt's number, exactly: an int for an integer (up to 4000 digits), else a Decimal; a float by its shortest
    repr. Booleans, non-finite values, non-ASCII digits and anything else raise NotANumber."""
    if isinstance(value, bool):
        raise NotANumber(f"{value!r} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        # JSON floats (float4/float8 columns): take the shortest repr, exactly.
        if value != value or value in (float("inf"), float("-inf")):
            raise NotANumber(f"{value!r} is not finite")
        return _normalise(Decimal(repr(value)))
    if isinstance(value, str):
        text = value.strip()
        if _INT.fullmatch(text) and len(text) <= _MAX_INT_DIGITS:
            return int(text)
        if not _DECIMAL.fullmatch(text):
            raise NotANumber(f"{value!r} is not a number")
        try:
            d = Decimal(text)
        except InvalidOperation:
            raise NotANumber(f"{value!r} is not a number") from None
        if not d.is_finite():
            raise NotANumber(f"{value!r} is not finite")
        return _normalise(d)
    raise NotANumber(f"{value!r} is not a number")


def _normalise(d: Decimal) -> Number:
    if d.adjusted() < _MAX_INT_DIGITS and d == d.to_integral_value():
        return int(d)
    return d


def parse_optional(value: object) -> Number | None:
    """parse_number, with None (a NULL column) kept as None."""
    return None if value is None else parse_number(value)


def same_value(a: object, b: object) -> bool:
    """Field equality for row/fingerprint comparison: numbers by exact value, else by identity of JSON."""
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return a == b
    try:
        return parse_number(a) == parse_number(b)
    except NotANumber:
        return a == b


@dataclass(frozen=True)
class Tolerance:
    """How far two counts may differ: max(ceil(rel × baseline), abs); exact by default."""

    rel: Decimal = Decimal(0)
    abs: int = 0

    @property
    def exact(self) -> bool:
        """True when no difference is tolerated (both bounds 0)."""
        return self.rel == 0 and self.abs == 0

    def allowed(self, baseline: int) -> int:
        """max(ceil(rel × baseline), abs): the prior system's model; exact unless configured."""
        rel = int((self.rel * baseline).to_integral_value(rounding="ROUND_CEILING"))
        return max(rel, self.abs)
