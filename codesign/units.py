"""Quantities with units: ``"100 um"`` -> ``1e-4`` (SI), checked against a dimension.

A small dimensional-analysis parser: a quantity is a number followed by a unit expression
made of unit symbols (with SI prefixes), ``*``, ``/``, ``^`` and parentheses, for example
``"148 W/m/K"``, ``"2e4 W/(m^2*K)"``, ``"1.6 MJ/m^3/K"``, ``"819 GB/s"``, ``"0.5 pJ/bit"``.
Temperatures may be absolute (``"45 degC"``, ``"318.15 K"``); an offset unit such as
``degC`` must stand alone.

Every quantity in a layout file goes through :func:`parse_quantity`, once, at load time.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .errors import ModelError

__all__ = ["Dimension", "UnitError", "parse_quantity", "format_quantity", "DIMENSIONS"]


class UnitError(ModelError):
    """A quantity string could not be parsed or has the wrong dimension."""


# Base dimensions: length, mass, time, temperature, information (bit), money.
_BASES = ("m", "kg", "s", "K", "bit", "USD")


@dataclass(frozen=True)
class Dimension:
    exponents: tuple[int, ...]
    name: str = ""

    def __mul__(self, other: "Dimension") -> "Dimension":
        return Dimension(tuple(a + b for a, b in zip(self.exponents, other.exponents)))

    def __pow__(self, p: int) -> "Dimension":
        return Dimension(tuple(a * p for a in self.exponents))

    def same(self, other: "Dimension") -> bool:
        return self.exponents == other.exponents

    def __str__(self) -> str:
        parts = [f"{b}^{e}" if e != 1 else b for b, e in zip(_BASES, self.exponents) if e]
        return " ".join(parts) or "1"


def _dim(**exps: int) -> Dimension:
    return Dimension(tuple(exps.get(b, 0) for b in _BASES))


_NONE = _dim()
_LEN = _dim(m=1)
_MASS = _dim(kg=1)
_TIME = _dim(s=1)
_TEMP = _dim(K=1)
_BIT = _dim(bit=1)
_USD = _dim(USD=1)
_ENERGY = _dim(kg=1, m=2, s=-2)
_POWER = _dim(kg=1, m=2, s=-3)

# symbol -> (scale to SI, dimension, accepts SI prefixes)
_UNITS: dict[str, tuple[float, Dimension, bool]] = {
    "m": (1.0, _LEN, True),
    "g": (1e-3, _MASS, True),
    "s": (1.0, _TIME, True),
    "K": (1.0, _TEMP, False),
    "W": (1.0, _POWER, True),
    "J": (1.0, _ENERGY, True),
    "Hz": (1.0, _dim(s=-1), True),
    "bit": (1.0, _BIT, True),
    "b": (1.0, _BIT, True),
    "B": (8.0, _BIT, True),
    "T": (1e12, _BIT, False),  # only inside "Tb"/"TB" via prefixes below; kept out of use
    "USD": (1.0, _USD, False),
    "$": (1.0, _USD, False),
    "h": (3600.0, _TIME, False),
    "min": (60.0, _TIME, False),
    "mm": (1e-3, _LEN, False),
    "um": (1e-6, _LEN, False),
    "µm": (1e-6, _LEN, False),
    "μm": (1e-6, _LEN, False),
    "nm": (1e-9, _LEN, False),
    "cm": (1e-2, _LEN, False),
    "mil": (25.4e-6, _LEN, False),
    "%": (0.01, _NONE, False),
    "1": (1.0, _NONE, False),
}
_UNITS.pop("T")
_PREFIXES = {
    "p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "c": 1e-2,
    "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
}
# Named "transfers": data rate uses bit/s; a GT/s lane rate is a transfer rate (1/s).
_UNITS["GT/s"] = (1e9, _dim(s=-1), False)  # handled as a whole token below

_OFFSET_UNITS = {"degC": 273.15, "°C": 273.15, "C": 273.15}

DIMENSIONS: dict[str, tuple[Dimension, str]] = {
    # name: (dimension, example)
    "length": (_LEN, '"100 um"'),
    "area": (_LEN**2, '"25 mm^2"'),
    "power": (_POWER, '"350 W"'),
    "temperature": (_TEMP, '"45 degC" or "318 K"'),
    "temperature_difference": (_TEMP, '"10 K"'),
    "conductivity": (_POWER * _LEN**-1 * _TEMP**-1, '"148 W/m/K"'),
    "heat_transfer_coefficient": (_POWER * _LEN**-2 * _TEMP**-1, '"2e4 W/m^2/K"'),
    "volumetric_heat_capacity": (_ENERGY * _LEN**-3 * _TEMP**-1, '"1.63 MJ/m^3/K"'),
    "inverse_temperature": (_TEMP**-1, '"0.02 1/K"'),
    "bandwidth": (_BIT * _TIME**-1, '"819 GB/s" or "6.4 Tb/s"'),
    "energy_per_bit": (_ENERGY * _BIT**-1, '"0.5 pJ/bit"'),
    "transfer_rate": (_TIME**-1, '"32 GT/s"'),
    "time": (_TIME, '"10 ms"'),
    "cost": (_USD, '"1200 USD"'),
    "dimensionless": (_NONE, '"0.5" or "50 %"'),
}

_NUMBER = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_TOKEN = re.compile(r"\s*(\(|\)|\*|/|\^|·|[-+]?\d+|[A-Za-zµμ°$%][A-Za-zµμ°$%]*)")


def _lookup(symbol: str) -> tuple[float, Dimension]:
    if symbol in _UNITS:
        scale, dim, _ = _UNITS[symbol]
        return scale, dim
    for p, f in _PREFIXES.items():
        if symbol.startswith(p) and symbol[len(p):] in _UNITS:
            scale, dim, prefixable = _UNITS[symbol[len(p):]]
            if prefixable:
                return f * scale, dim
    raise UnitError(f"unknown unit {symbol!r}")


def _parse_unit(expr: str) -> tuple[float, Dimension]:
    expr = expr.replace("GT/s", "GTps")
    tokens = [t for t in _TOKEN.findall(expr)]
    if "".join(tokens).replace(" ", "") != expr.replace(" ", ""):
        raise UnitError(f"cannot read unit expression {expr!r}")
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom() -> tuple[float, Dimension]:
        t = take() if peek() is not None else None
        if t is None:
            raise UnitError(f"unit expression {expr!r} ends too early")
        if t == "(":
            val = product()
            if take() != ")" if peek() is not None else True:
                raise UnitError(f"unbalanced parentheses in {expr!r}")
        elif t == "GTps":
            val = (1e9, _dim(s=-1))
        elif re.fullmatch(r"[-+]?\d+", t):
            if int(t) != 1:
                raise UnitError(f"a bare number {t!r} inside the unit {expr!r}")
            val = (1.0, _NONE)
        else:
            val = _lookup(t)
        if peek() == "^":
            take()
            e = take() if peek() is not None else ""
            if not re.fullmatch(r"[-+]?\d+", e):
                raise UnitError(f"exponent must be an integer in {expr!r}")
            val = (val[0] ** int(e), val[1] ** int(e))
        return val

    def product() -> tuple[float, Dimension]:
        scale, dim = atom()
        while peek() in ("*", "/", "·"):
            op = take()
            s, d = atom()
            if op == "/":
                scale, dim = scale / s, dim * d**-1
            else:
                scale, dim = scale * s, dim * d
        return scale, dim

    result = product()
    if pos != len(tokens):
        raise UnitError(f"unexpected {tokens[pos]!r} in unit {expr!r}")
    return result


def parse_quantity(value: object, kind: str) -> float:
    """Parse a quantity string into an SI float, checking its dimension.

    Parameters
    ----------
    value : str
        A number followed by a unit, e.g. ``"100 um"``.
    kind : str
        A key of :data:`DIMENSIONS` (``"length"``, ``"power"``, ...).

    Raises
    ------
    UnitError
        With a message that says what was expected and what was given.

    Examples
    --------
    >>> parse_quantity("100 um", "length")
    0.0001
    >>> round(parse_quantity("45 degC", "temperature"), 2)
    318.15
    """
    dim, example = DIMENSIONS[kind]
    label = kind.replace("_", " ")
    a = "an" if label[0] in "aeiou" else "a"
    if isinstance(value, bool) or not isinstance(value, str):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and kind == "dimensionless":
            v = float(value)
            if not math.isfinite(v):
                raise UnitError(f"expected a finite number, got {value!r}")
            return v
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise UnitError(f"expected {a} {label} such as {example}, got {value!r} (no unit)")
        raise UnitError(f"expected {a} {label} such as {example}, got {value!r} ({type(value).__name__})")
    m = _NUMBER.match(value)
    if not m:
        raise UnitError(f"expected {a} {label} such as {example}, got {value!r}")
    number, unit = float(m.group(1)), m.group(2)
    if not math.isfinite(number):
        raise UnitError(f"expected a finite {label}, got {value!r}")
    if not unit:
        if kind == "dimensionless":
            return number
        raise UnitError(f"expected {a} {label} such as {example}, got {value!r} (no unit)")
    if unit in _OFFSET_UNITS:
        if kind != "temperature":
            raise UnitError(
                f"{unit!r} is an absolute temperature scale; a {label} needs a unit such as {example}"
                + (" (a temperature difference is given in K)" if kind == "temperature_difference" else "")
            )
        return number + _OFFSET_UNITS[unit]
    try:
        scale, d = _parse_unit(unit)
    except UnitError as e:
        raise UnitError(f"expected {a} {label} such as {example}, got {value!r}: {e}") from None
    if not d.same(dim):
        raise UnitError(f"expected {a} {label} such as {example}, got {value!r}: unit {unit!r} is not {a} {label}")
    # Divide by an exact integer reciprocal where there is one, so "100 um" is exactly 1e-4.
    inv = 1.0 / scale
    out = number / round(inv) if scale < 1 and abs(inv - round(inv)) < 1e-9 * inv else number * scale
    if not math.isfinite(out):
        raise UnitError(f"{value!r} overflows as a {label}")
    return out


def format_quantity(value: float, unit: str) -> str:
    """Format an SI value back into a string in ``unit`` (inverse of :func:`parse_quantity`)."""
    if unit in _OFFSET_UNITS:
        return f"{value - _OFFSET_UNITS[unit]:.12g} {unit}"
    scale, _ = _parse_unit(unit)
    return f"{value / scale:.12g} {unit}"
