"""Field checks shared by the sweep-spec and system-file readers: every problem is collected as
``(field path, message with the value and the fix)``; nothing raises but the reader, once.

A value that is not what its field needs (a wrong type, an unknown key, a unit of the wrong kind,
a number out of range) is a problem, never a silent default. Values are shown shortened
(:func:`show`), so a megabyte string in a file cannot flood an error message, and quantity strings
longer than :data:`MAX_QUANTITY_CHARS` are refused before the unit parser sees them.
"""

from __future__ import annotations

import difflib
import math
from typing import Any, Iterable

from ..units import DIMENSIONS, UnitError, parse_quantity

#: Longest quantity string parsed, spaces included (``"1.25e4 W/m^2/K"`` is 14 characters).
MAX_QUANTITY_CHARS = 200
#: Longest name (block, sweep, system) accepted.
MAX_NAME_CHARS = 200
#: Longest free-text string (descriptions, paths).
MAX_TEXT_CHARS = 4096

#: Sanity ranges of absolute quantities [SI]: (low, high, low is allowed, how to say it). They are the
#: layout format's ranges (``codesign.layout_io``): wider than any package, narrow enough to catch an
#: exponent or unit typo before it reaches a mesher or a cost model.
RANGES: dict[str, tuple[float, float, bool, str]] = {
    "length": (1e-8, 1.0, True, "between 10 nm and 1 m"),
    "area": (1e-12, 1e-2, True, "between 1 um^2 and 10000 mm^2"),
    "power": (0.0, 1e5, True, "between 0 and 100 kW"),
    "conductivity": (0.0, 1e4, False, "above 0 and at most 1e4 W/m/K (diamond is ~2200)"),
    "heat_transfer_coefficient": (0.0, 1e7, False, "above 0 and at most 1e7 W/m^2/K"),
    "temperature": (1.0, 1000.0, True, "between 1 K and 1000 K"),
    "bandwidth": (0.0, 1e18, False, "above 0 and at most 1 Eb/s"),
}


def show(value: Any, limit: int = 60) -> str:
    """``repr(value)``, shortened to about ``limit`` characters."""
    if isinstance(value, (dict, list)) and len(value) > 8:
        r = f"{type(value).__name__} of {len(value)} entries"
    else:
        r = repr(value)
    return r if len(r) <= limit else r[:limit - 5] + "...'" + f" ({len(r)} characters)"


def join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def typename(value: Any) -> str:
    return {dict: "a table", list: "an array", str: "a string", bool: "a boolean", int: "an integer",
            float: "a number"}.get(type(value), type(value).__name__)


def nearest(name: Any, options: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest option, else ``"; allowed: a, b, c"``."""
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(name)[:MAX_NAME_CHARS], options, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    listing = ", ".join(options[:30]) + (", ..." if len(options) > 30 else "")
    return f"; allowed: {listing}"


class Checker:
    """Collects ``(path, message)`` problems while reading a parsed TOML document."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def err(self, path: str, msg: str) -> None:
        self.problems.append((path, msg))

    # -- containers ----------------------------------------------------------------------------
    def table(self, value: Any, path: str, allowed: Iterable[str], *, required: bool = False,
              example: str = "") -> dict | None:
        """``value`` if it is a table (unknown keys reported with a did-you-mean), else None."""
        if value is None:
            if required:
                self.err(path, f"missing; add the [{path}] table{example}")
            return None
        if not isinstance(value, dict):
            self.err(path, f"expected a table{example}, got {typename(value)} {show(value)}")
            return None
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                self.err(join(path, key), f"unknown key {show(key)}{nearest(key, allowed)}")
        return value

    def tables(self, value: Any, path: str, *, example: str = "") -> list[tuple[str, dict]]:
        """The ``(path, table)`` entries of an array of tables (``[[path]]``); other entries reported."""
        if value is None:
            return []
        if not isinstance(value, list):
            self.err(path, f"expected [[{path}]] tables{example}, got {typename(value)} {show(value)}")
            return []
        out = []
        for i, t in enumerate(value):
            p = f"{path}[{i}]"
            if isinstance(t, dict):
                out.append((p, t))
            else:
                self.err(p, f"expected a table (a [[{path}]] entry), got {typename(t)} {show(t)}")
        return out

    # -- scalars -------------------------------------------------------------------------------
    def string(self, tbl: dict, key: str, path: str, *, required: bool = False, default: str | None = None,
               max_chars: int = MAX_NAME_CHARS, choices: Iterable[str] | None = None,
               what: str = "a string", noun: str = "value") -> str | None:
        p = join(path, key)
        if key not in tbl:
            if required:
                self.err(p, f"missing; give {what}")
            return default
        v = tbl[key]
        if not isinstance(v, str):
            self.err(p, f"expected {what}, got {typename(v)} {show(v)}")
            return default
        if len(v) > max_chars:
            self.err(p, f"{len(v):,} characters, more than the {max_chars:,} allowed; shorten it")
            return default
        if any(ord(ch) < 32 and ch not in "\t\n" or ch == "\x7f" for ch in v):
            self.err(p, f"contains a control character: {show(v)}; remove it")
            return default
        if choices is not None:
            choices = tuple(choices)
            if v not in choices:
                self.err(p, f"unknown {noun} {show(v)}{nearest(v, choices)}")
                return default
        return v

    def integer(self, tbl: dict, key: str, path: str, *, lo: int, hi: int, default: int | None = None,
                required: bool = False, hint: str = "") -> int | None:
        p = join(path, key)
        if key not in tbl:
            if required:
                self.err(p, f"missing; give a whole number in [{lo:,}, {hi:,}]")
            return default
        v = tbl[key]
        if isinstance(v, bool) or not isinstance(v, int):
            self.err(p, f"expected a whole number in [{lo:,}, {hi:,}], got {typename(v)} {show(v)}")
            return default
        if not lo <= v <= hi:
            self.err(p, f"expected a whole number in [{lo:,}, {hi:,}], got {show(v)}{hint}")
            return default
        return v

    def number(self, tbl: dict, key: str, path: str, *, lo: float, hi: float, lo_open: bool = False,
               default: float | None = None, required: bool = False, allow_string: bool = False) -> float | None:
        """A plain number in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); with ``allow_string`` also a
        dimensionless string such as ``"1.8"``."""
        p = join(path, key)
        interval = f"{'(' if lo_open else '['}{lo:g}, {hi:g}]"
        if key not in tbl:
            if required:
                self.err(p, f"missing; give a number in {interval}")
            return default
        v = tbl[key]
        if allow_string and isinstance(v, str):
            x = self.quantity(tbl, key, path, "dimensionless", default=None, check_range=False)
            if x is None:
                return default
        elif isinstance(v, bool) or not isinstance(v, (int, float)):
            self.err(p, f"expected a number in {interval}, got {typename(v)} {show(v)}")
            return default
        else:
            x = float(v)
        if not (math.isfinite(x) and (lo < x if lo_open else lo <= x) and x <= hi):
            self.err(p, f"expected a number in {interval}, got {show(v)}")
            return default
        return x

    def boolean(self, tbl: dict, key: str, path: str, *, default: bool) -> bool:
        p = join(path, key)
        v = tbl.get(key, default)
        if not isinstance(v, bool):
            self.err(p, f"expected true or false, got {typename(v)} {show(v)}")
            return default
        return v

    def quantity(self, tbl: dict, key: str, path: str, kind: str, *, required: bool = False,
                 default: float | None = None, check_range: bool = True, lo: float | None = None,
                 hi: float | None = None, lo_open: bool = False, what: str = "") -> float | None:
        """A quantity string (``"100 um"``) of ``kind`` in SI, range-checked (:data:`RANGES`, or
        ``[lo, hi]`` when given)."""
        p = join(path, key)
        label = kind.replace("_", " ")
        example = DIMENSIONS[kind][1]
        if key not in tbl:
            if required:
                self.err(p, f"missing; give {what or 'a ' + label} such as {example}")
            return default
        return self.value(tbl[key], p, kind, default=default, check_range=check_range, lo=lo, hi=hi,
                          lo_open=lo_open)

    def value(self, v: Any, p: str, kind: str, *, default: float | None = None, check_range: bool = True,
              lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float | None:
        """:meth:`quantity` for a value already taken out of its table (``p`` is its path)."""
        if isinstance(v, str) and len(v) > MAX_QUANTITY_CHARS:
            self.err(p, f"a {len(v):,}-character string is not a {kind.replace('_', ' ')}; give a value "
                        f"such as {DIMENSIONS[kind][1]}")
            return default
        try:
            x = parse_quantity(v, kind)
        except UnitError as e:
            self.err(p, str(e) if not isinstance(v, (list, dict)) else
                     f"expected a {kind.replace('_', ' ')} such as {DIMENSIONS[kind][1]}, got {typename(v)} {show(v)}")
            return default
        if lo is not None or hi is not None:
            lo_ = -math.inf if lo is None else lo
            hi_ = math.inf if hi is None else hi
            ok = (lo_ < x if lo_open else lo_ <= x) and x <= hi_
            if not ok:
                self.err(p, f"{show(v)} is out of range: expected {'above' if lo_open else 'at least'} {lo_:g} "
                            f"and at most {hi_:g} (SI); check the number and the unit")
                return default
        elif check_range and kind in RANGES:
            msg = range_problem(kind, x)
            if msg:
                label = kind.replace("_", " ")
                self.err(p, f"{show(v)} is out of range for {'an' if label[0] in 'aeiou' else 'a'} {label}: {msg}; "
                            f"check the exponent and the unit")
                return default
        return x


def range_problem(kind: str, x: float) -> str | None:
    """The sanity range ``x`` [SI] of ``kind`` violates (:data:`RANGES`), or None."""
    if kind not in RANGES:
        return None if math.isfinite(x) else "not finite"
    lo, hi, lo_closed, say = RANGES[kind]
    ok = math.isfinite(x) and (lo <= x if lo_closed else lo < x) and x <= hi
    return None if ok else say
