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
import numbers
import re
from dataclasses import dataclass

from .errors import ModelError

__all__ = ["DIMENSIONS", "finite_real", "MAX_QUANTITY_LENGTH", "MAX_UNIT_EXPONENT", "Dimension", "UnitError", "format_quantity",
           "parse_quantity", "si_converter", "split_quantity"]


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


def finite_real(value: object) -> bool:
    """``value`` is a real number (not a bool) that a float holds finitely.

    An integer too large for a float (TOML and JSON readers give arbitrary-precision integers, e.g.
    ``1e400`` written out in digits) is not: ``math.isfinite`` would raise ``OverflowError`` on it.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


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
    "ppm": (1e-6, _NONE, False),  # parts per million (CTEs: "16 ppm/K")
    "Pa": (1.0, _dim(kg=1, m=-1, s=-2), True),  # pascal (moduli: "130 GPa")
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
    "modulus": (_dim(kg=1, m=-1, s=-2), '"130 GPa"'),
}

#: Longest quantity string accepted, after surrounding white space is stripped [characters]. A
#: quantity is a number and a unit ("1.63 MJ/m^3/K" is 13); the cap keeps every step below linear
#: in the input and bounds the nesting of parentheses.
MAX_QUANTITY_LENGTH = 100
#: Largest integer power of a unit factor (``m^2``, ``K^-1``; leakage polynomials use up to ``K^-9``).
MAX_UNIT_EXPONENT = 9
#: A unit whose scale to SI falls outside this range is refused (no unit of this tool comes near).
_SCALE_RANGE = (1e-60, 1e60)

# Applied to stripped text of bounded length, without lazy quantifiers: linear time.
_NUMBER = re.compile(r"([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*(.*)", re.DOTALL)
_INTEGER = re.compile(r"[-+]?[0-9]+")
_TOKEN = re.compile(r"\s*(\(|\)|\*|/|\^|·|[-+]?[0-9]+|[A-Za-zµμ°$%][A-Za-zµμ°$%]*)")


def _show(value: object, n: int = 60) -> str:
    """``repr(value)``, shortened to about ``n`` characters (error messages never echo huge inputs)."""
    r = repr(value) if not isinstance(value, str) or len(value) <= 4 * n else repr(value[:n])
    if len(r) <= n:
        return r
    length = f" ({len(value):,} characters)" if isinstance(value, str) else ""
    return r[:n - 4] + "..." + r[-1] + length


def _lookup(symbol: str) -> tuple[float, Dimension]:
    if symbol in _UNITS:
        scale, dim, _ = _UNITS[symbol]
        return scale, dim
    for p, f in _PREFIXES.items():
        if symbol.startswith(p) and symbol[len(p):] in _UNITS:
            scale, dim, prefixable = _UNITS[symbol[len(p):]]
            if prefixable:
                return f * scale, dim
    raise UnitError(f"unknown unit {_show(symbol)}")


def _parse_unit(expr: str) -> tuple[float, Dimension]:
    """``(scale to SI, dimension)`` of a unit expression such as ``"W/m^2/K"``."""
    if len(expr) > MAX_QUANTITY_LENGTH:
        raise UnitError(f"unit expressions are at most {MAX_QUANTITY_LENGTH} characters; got {len(expr):,}")
    expr = expr.replace("GT/s", "GTps")
    tokens = [t for t in _TOKEN.findall(expr)]
    if "".join(tokens).replace(" ", "") != expr.replace(" ", ""):
        raise UnitError(f"cannot read unit expression {_show(expr)}")
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def checked(scale: float) -> float:
        lo, hi = _SCALE_RANGE
        if not lo <= scale <= hi:
            raise UnitError(f"the unit {_show(expr)} scales by {scale:.3g} to SI, outside {lo:g} to {hi:g}; "
                            "use plain units such as m, W, K")
        return scale

    def atom() -> tuple[float, Dimension]:
        t = take() if peek() is not None else None
        if t is None:
            raise UnitError(f"unit expression {_show(expr)} ends too early")
        if t == "(":
            val = product()
            if take() != ")" if peek() is not None else True:
                raise UnitError(f"unbalanced parentheses in {_show(expr)}")
        elif t == "GTps":
            val = (1e9, _dim(s=-1))
        elif _INTEGER.fullmatch(t):
            if t.lstrip("+-0") != "1" or t.startswith("-"):
                raise UnitError(f"a bare number {_show(t)} inside the unit {_show(expr)}")
            val = (1.0, _NONE)
        else:
            val = _lookup(t)
        if peek() == "^":
            take()
            e = take() if peek() is not None else ""
            if not _INTEGER.fullmatch(e):
                raise UnitError(f"exponent must be an integer in {_show(expr)}")
            if len(e) > 4 or abs(int(e)) > MAX_UNIT_EXPONENT:
                raise UnitError(f"exponent {_show(e)} in {_show(expr)} is out of range: units take small integer "
                                f"powers (at most {MAX_UNIT_EXPONENT}), such as m^2 or K^-1")
            n = int(e)
            try:
                scale = val[0] ** n
            except OverflowError:
                scale = math.inf
            val = (checked(scale), val[1] ** n)
        return val

    def product() -> tuple[float, Dimension]:
        scale, dim = atom()
        while peek() in ("*", "/", "·"):
            op = take()
            s, d = atom()
            if op == "/":
                scale, dim = checked(scale / s), dim * d**-1
            else:
                scale, dim = checked(scale * s), dim * d
        return scale, dim

    result = product()
    if pos != len(tokens):
        raise UnitError(f"unexpected {_show(tokens[pos])} in unit {_show(expr)}")
    return result


def split_quantity(value: str) -> tuple[float, str]:
    """``(number, unit text)`` of a quantity string; the unit is ``""`` when none is given.

    Surrounding white space is ignored; the rest must be at most :data:`MAX_QUANTITY_LENGTH`
    characters. Raises :class:`UnitError` when the text does not start with a number.
    """
    text = value.strip()
    if len(text) > MAX_QUANTITY_LENGTH:
        raise UnitError(f"a quantity is a number and a unit of at most {MAX_QUANTITY_LENGTH} characters; got "
                        f"{_show(value)}")
    m = _NUMBER.fullmatch(text)
    if not m:
        raise UnitError(f"expected a number followed by a unit, got {_show(value)}")
    return float(m.group(1)), m.group(2)


def _to_si(number: float, scale: float) -> float:
    # Divide by an exact integer reciprocal where there is one, so "100 um" is exactly 1e-4.
    inv = 1.0 / scale
    return number / round(inv) if scale < 1 and abs(inv - round(inv)) < 1e-9 * inv else number * scale


def si_converter(unit: str, kind: str):
    """A function turning numbers in ``unit`` into SI floats of dimension ``kind``.

    The unit is read and checked once (use it for columns of numbers in one unit). The function
    raises :class:`UnitError` for a non-finite result. Offset scales (``degC``) are supported.

    Examples
    --------
    >>> f = si_converter("ms", "time")
    >>> f(5.0)
    0.005
    """
    dim, example = DIMENSIONS[kind]
    label = kind.replace("_", " ")
    a = "an" if label[0] in "aeiou" else "a"
    unit = unit.strip()
    if unit in _OFFSET_UNITS:
        if kind != "temperature":
            raise UnitError(
                f"{unit!r} is an absolute temperature scale; a {label} needs a unit such as {example}"
                + (" (a temperature difference is given in K)" if kind == "temperature_difference" else ""))
        offset = _OFFSET_UNITS[unit]
        return lambda number: _finite(number + offset, number, unit, label)
    try:
        scale, d = _parse_unit(unit)
    except UnitError as e:
        raise UnitError(f"expected {a} {label} unit such as {example}: {e}") from None
    if not d.same(dim):
        raise UnitError(f"unit {_show(unit)} is not {a} {label} (expected a unit such as {example})")
    return lambda number: _finite(_to_si(number, scale), number, unit, label)


def _finite(out: float, number: float, unit: str, label: str) -> float:
    if not math.isfinite(out):
        raise UnitError(f"{_show(f'{number!r} {unit}')} overflows as a {label}")
    return out


def parse_quantity(value: object, kind: str) -> float:
    """Parse a quantity string into an SI float, checking its dimension.

    Parameters
    ----------
    value : str
        A number followed by a unit, e.g. ``"100 um"``; surrounding white space is ignored and
        the rest is at most :data:`MAX_QUANTITY_LENGTH` characters. Runs in time linear in
        ``len(value)``.
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
            try:
                v = float(value)
            except OverflowError:  # an int too large for a float
                v = math.inf
            if not math.isfinite(v):
                raise UnitError(f"expected a finite number, got {_show(value)}")
            return v
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)} (no unit)")
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)} ({type(value).__name__})")
    text = value.strip()
    if len(text) > MAX_QUANTITY_LENGTH:
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)}: a quantity is at most "
                        f"{MAX_QUANTITY_LENGTH} characters")
    m = _NUMBER.fullmatch(text)
    if not m:
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)}")
    number, unit = float(m.group(1)), m.group(2)
    if not math.isfinite(number):
        raise UnitError(f"expected a finite {label}, got {_show(value)}")
    if not unit:
        if kind == "dimensionless":
            return number
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)} (no unit)")
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
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)}: {e}") from None
    if not d.same(dim):
        raise UnitError(f"expected {a} {label} such as {example}, got {_show(value)}: unit {_show(unit)} is not "
                        f"{a} {label}")
    out = _to_si(number, scale)
    if not math.isfinite(out):
        raise UnitError(f"{_show(value)} overflows as a {label}")
    return out


def format_quantity(value: float, unit: str) -> str:
    """Format an SI value back into a string in ``unit`` (inverse of :func:`parse_quantity`)."""
    if unit in _OFFSET_UNITS:
        return f"{value - _OFFSET_UNITS[unit]:.12g} {unit}"
    scale, _ = _parse_unit(unit)
    return f"{value / scale:.12g} {unit}"
