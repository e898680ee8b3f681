"""The PHY library: die-to-die, memory, SerDes and optical interfaces as data, with sources.

Every :class:`PhySpec` value carries a source string (``spec.source("energy_per_bit")``). The
numbers come from ``shared/reference/parameters.md`` (cited below as [P§n]); values that file marks
UNSOURCED are explicit placeholders whose source string starts with ``"UNSOURCED placeholder"``
(``spec.placeholders`` lists them). Override any value with :func:`dataclasses.replace`, with a
``phys=`` mapping passed to :func:`codesign.interconnect.evaluate_links`, or from TOML with
:func:`phys_from_toml`.

Conventions
-----------
* ``lanes`` are data lanes per module **per direction**; a full-duplex module has ``lanes`` TX
  and ``lanes`` RX lanes (UCIe x64 = 64 + 64). A half-duplex memory bus (HBM) has ``lanes`` data
  pins shared by reads and writes; its bandwidth is the total.
* Lane data rate = ``transfer_rate`` × ``bits_per_transfer`` (1 for NRZ/DDR pins, 2 for PAM4).
* ``energy_per_bit`` with ``energy_basis = "bit"`` is energy per bit moved (TX + RX), so a
  full-duplex link carrying B per direction moves 2B and draws 2B·E. With ``"port"`` (optics, the
  switch-industry convention: port power / port rate) it is per bit of per-direction capacity,
  covering both directions: power = B·E.
* Shoreline densities quoted by the UCIe specification count TX + RX (derived here: the
  resulting UCIe-A module width, 0.389 mm, matches for all rates 4–32 GT/s, [P§1] ranges).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass
from typing import Any, Mapping

from .errors import ModelError
from .units import UnitError, parse_quantity

__all__ = [
    "PHY_KINDS",
    "PHYS",
    "PHY_ALIASES",
    "AUTO_CANDIDATES",
    "PhySpec",
    "PhyError",
    "get_phy",
    "hybrid_bond_energy",
    "phys_from_toml",
    "ucie_3d",
]

#: ``edge``: 2.5D die-to-die on a die edge; ``areal``: 3D stacked bonds over the overlap;
#: ``memory``: HBM host interface; ``optical``: co-packaged engines / pluggables; ``serdes``.
PHY_KINDS = ("edge", "areal", "memory", "optical", "serdes")

UNSOURCED = "UNSOURCED placeholder"

# Short references (parameters.md sections and the primary sources named there).
_HI25 = "spec target: Das Sharma et al., IEEE Hot Interconnects 2025 via convergedigest [P§1]"
_UCIE_2ND = "spec (2nd): UCIe tables as transcribed in 2nd notes / Wikipedia 'UCIe' [P§1]"
_UCIE3 = "spec: UCIe 3.0 (5 Aug 2025), semiwiki / EE Times via design-reuse [P§1]"
_PHYS_V = "physics: v = c/sqrt(3.9) in SiO2 dielectric (textbook permittivity of SiO2)"


class PhyError(ModelError):
    """An unknown PHY name or an invalid PHY value; the message names the fix.

    A :class:`codesign.errors.ModelError` (hence also a ``ValueError``)."""


@dataclass(frozen=True)
class PhySpec:
    """One PHY (a die-to-die, memory, SerDes or optical interface), in SI units.

    Attributes
    ----------
    name : str
    kind : str
        One of :data:`PHY_KINDS`.
    bump_pitch : float
        Bump (or bond) pitch of the PHY's bump field [m].
    lanes : int
        Data lanes per module per direction (memory: bus width per stack).
    transfer_rate : float
        Transfers per second per lane [1/s] (GT/s × 1e9).
    bits_per_transfer : int
        1 for NRZ / DDR pins, 2 for PAM4.
    module_width : float
        Shoreline of one module along the die edge [m] (0: not edge-placed).
    module_depth : float
        Depth of one module into the die [m]; for ``areal`` PHYs ``width × depth`` is the
        bump-field cell of one module.
    energy_per_bit : float
        [J/bit], see the module docstring for ``energy_basis``.
    idle_power : float
        Power per module independent of traffic [W].
    reach : float
        Longest supported distance [m] (lateral for edge PHYs, vertical for areal ones).
    latency : float
        PHY latency, TX + RX [s], without time of flight.
    duplex : str
        ``"full"`` or ``"half"`` (a shared memory bus).
    signal_fraction : float
        Fraction of bump sites carrying data lanes (areal PHYs size their bump field with it).
    max_modules : int or None
        Most modules one link can use (an HBM stack has one PHY); ``None``: unbounded.
    propagation_delay : float
        Time of flight per metre [s/m].
    energy_basis : str
        ``"bit"`` (per bit moved) or ``"port"`` (per bit of per-direction port capacity).
    stack_power : float or None
        Memory only: power per stack [W] for the HBM summary.
    alternative : str or None
        Optical only: the PHY to compare against (the pluggable alternative).
    sources : tuple of (field, source) pairs
        A source string for every numeric field.
    """

    name: str
    kind: str
    bump_pitch: float
    lanes: int
    transfer_rate: float
    bits_per_transfer: int
    module_width: float
    module_depth: float
    energy_per_bit: float
    idle_power: float
    reach: float
    latency: float
    duplex: str = "full"
    signal_fraction: float = 1.0
    max_modules: int | None = None
    propagation_delay: float = math.sqrt(3.9) / 299_792_458.0
    energy_basis: str = "bit"
    stack_power: float | None = None
    alternative: str | None = None
    sources: tuple[tuple[str, str], ...] = ()

    #: Numeric fields that must each have a source.
    VALUE_FIELDS = ("bump_pitch", "lanes", "transfer_rate", "bits_per_transfer", "module_width", "module_depth",
                    "energy_per_bit", "idle_power", "reach", "latency", "signal_fraction", "max_modules",
                    "propagation_delay", "stack_power")

    def __post_init__(self):
        problems = []
        if self.kind not in PHY_KINDS:
            problems.append(f"kind {self.kind!r} is not one of {', '.join(PHY_KINDS)}")
        if self.duplex not in ("full", "half"):
            problems.append(f"duplex {self.duplex!r} must be 'full' or 'half'")
        if self.energy_basis not in ("bit", "port"):
            problems.append(f"energy_basis {self.energy_basis!r} must be 'bit' or 'port'")
        for f in ("bump_pitch", "transfer_rate", "reach"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                problems.append(f"{f} must be a positive finite number, got {v!r}")
        for f in ("module_width", "module_depth", "energy_per_bit", "idle_power", "latency", "propagation_delay"):
            v = getattr(self, f)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                problems.append(f"{f} must be a finite number >= 0, got {v!r}")
        for f in ("lanes", "bits_per_transfer"):
            v = getattr(self, f)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                problems.append(f"{f} must be a positive integer, got {v!r}")
        if self.max_modules is not None and (not isinstance(self.max_modules, int) or self.max_modules < 1):
            problems.append(f"max_modules must be None or a positive integer, got {self.max_modules!r}")
        if not 0 < self.signal_fraction <= 1:
            problems.append(f"signal_fraction must be in (0, 1], got {self.signal_fraction!r}")
        if self.kind != "areal" and self.module_width * self.module_depth <= 0 and self.kind != "optical":
            problems.append("module_width and module_depth must be positive for edge-placed PHYs")
        given = {k for k, _ in self.sources}
        missing = [f for f in self.VALUE_FIELDS if f not in given
                   and not (f in ("max_modules", "stack_power") and getattr(self, f) is None)]
        if missing:
            problems.append(f"no source for {', '.join(missing)}; add (field, source) pairs to `sources`")
        if problems:
            raise PhyError(f"`PhySpec({self.name!r})`: " + "; ".join(problems))

    # -- derived ---------------------------------------------------------------------------------
    @property
    def lane_rate(self) -> float:
        """Data rate of one lane [bit/s]."""
        return self.transfer_rate * self.bits_per_transfer

    @property
    def module_bandwidth(self) -> float:
        """Bandwidth of one module [bit/s], per direction (full duplex) or total (half duplex)."""
        return self.lanes * self.lane_rate

    @property
    def directions(self) -> int:
        """Data lanes per module = ``lanes × directions``."""
        return 2 if self.duplex == "full" else 1

    @property
    def traffic_factor(self) -> float:
        """Bits charged ``energy_per_bit`` per bit/s of per-direction bandwidth (2, or 1)."""
        return 2.0 if (self.duplex == "full" and self.energy_basis == "bit") else 1.0

    @property
    def module_area(self) -> float:
        """Footprint of one module [m^2]."""
        return self.module_width * self.module_depth

    @property
    def bumps_per_module(self) -> int:
        """Bump sites in one module's footprint on a square array at ``bump_pitch``."""
        return int(round(self.module_area / self.bump_pitch**2))

    @property
    def bump_density(self) -> float:
        """Bump sites per area [1/m^2] = 1/pitch^2 (square array)."""
        return 1.0 / self.bump_pitch**2

    @property
    def shoreline_density(self) -> float:
        """Bandwidth per shoreline, both directions [bit/s/m] (0 if not edge-placed)."""
        return self.directions * self.module_bandwidth / self.module_width if self.module_width > 0 else 0.0

    @property
    def areal_density(self) -> float:
        """Bandwidth per area, both directions [bit/s/m^2]."""
        if self.kind == "areal":
            return self.bump_density * self.signal_fraction * self.lane_rate
        return self.directions * self.module_bandwidth / self.module_area if self.module_area > 0 else 0.0

    def source(self, field: str) -> str:
        """The source of one value (``KeyError`` if it has none)."""
        for k, s in self.sources:
            if k == field:
                return s
        raise KeyError(f"PHY {self.name!r} has no source for {field!r}")

    @property
    def placeholders(self) -> tuple[str, ...]:
        """Fields whose value is an UNSOURCED placeholder."""
        return tuple(k for k, s in self.sources if s.startswith(UNSOURCED))

    def with_values(self, source: str, **changes: Any) -> "PhySpec":
        """A copy with values replaced and each changed field's source set to ``source``."""
        src = dict(self.sources)
        for k in changes:
            if k in self.VALUE_FIELDS:
                src[k] = source
        return dataclasses.replace(self, **changes, sources=tuple(src.items()))


def _spec(name: str, kind: str, values: Mapping[str, tuple[Any, str]], **plain: Any) -> PhySpec:
    """Build a spec from ``{field: (value, source)}``."""
    return PhySpec(name=name, kind=kind, **{k: v for k, (v, _) in values.items()}, **plain,
                   sources=tuple((k, s) for k, (_, s) in values.items()))


# -- UCIe (2D "standard" and 2.5D "advanced") ------------------------------------------------------

_UCIE_RATES = (4, 8, 12, 16, 24, 32, 48, 64)
_UCIE_LATENCY = (2e-9, "spec target: ~2 ns TX + RX, HI-2025 report [P§1]")


def _ucie(variant: str, gts: int) -> PhySpec:
    rate_src = (f"{_HI25} (4–32 GT/s; discrete set from 2nd transcriptions)" if gts <= 32 else _UCIE3)
    if variant == "S":
        lanes, pitch, reach, density, areal = 16, 110e-6, 25e-3, 224.0, 125.0
        e = 0.5e-12 if gts <= 16 else 0.6e-12
        pitch_src = f"{_HI25}: 100–130 um; 110 um chosen inside the range"
        reach_src = "spec (2nd): <= 25 mm, notes quoting the HC2023 UCIe electrical tutorial [P§1]"
        dens_src = "224 GB/s/mm at 32 GT/s, HI-2025 [P§1]"
        areal_src = "125 GB/s/mm^2 (upper end of 22–125, 2nd) [P§1]"
    else:
        lanes, pitch, reach, density, areal = 64, 45e-6, 2e-3, 1317.0, 1350.0
        e = 0.25e-12 if gts <= 16 else 0.3e-12
        pitch_src = f"{_HI25}: 25–55 um, 45 um typical (Wikipedia 'common')"
        reach_src = "spec (2nd): <= 2 mm, notes quoting the HC2023 UCIe tutorial [P§1]"
        dens_src = "1317 GB/s/mm at 32 GT/s, HI-2025 [P§1]"
        areal_src = "1.35 TB/s/mm^2 at 45 um, Wikipedia 'UCIe' (2nd) [P§1]"
    module_bw_32 = 2 * lanes * 32e9 / 8  # bytes/s, both directions, at 32 GT/s
    width = module_bw_32 / (density * 1e9) * 1e-3
    depth = module_bw_32 / (areal * 1e9) * 1e-6 / width
    if gts <= 32:
        e_src = f"{_HI25}: {'0.5/0.6' if variant == 'S' else '0.25/0.3'} pJ/b at <=16 / >16 GT/s"
    else:
        e_src = (f"{UNSOURCED}: no UCIe 3.0 energy target in parameters.md; the >16 GT/s UCIe-{variant} "
                 "value is reused")
    return _spec(f"UCIe-{variant}-{gts}", "edge", {
        "bump_pitch": (pitch, pitch_src),
        "lanes": (lanes, f"spec (2nd): UCIe-{variant} x{lanes} module [P§1]"),
        "transfer_rate": (gts * 1e9, rate_src),
        "bits_per_transfer": (1, "spec: UCIe signals NRZ, one bit per transfer (GT/s = Gb/s per lane)"),
        "module_width": (width, f"derived: 2 x {lanes} lanes x 32 Gb/s / ({dens_src}), shoreline counts TX+RX"),
        "module_depth": (depth, f"derived: module bandwidth (TX+RX) / ({areal_src}) / module width"),
        "energy_per_bit": (e, e_src),
        "idle_power": (0.0, f"{UNSOURCED}: no idle/standby power figure in parameters.md; 0 W"),
        "reach": (reach, reach_src),
        "latency": _UCIE_LATENCY,
        "signal_fraction": (1.0, "not used for edge PHYs (the module footprint sets the bump field)"),
        "propagation_delay": (math.sqrt(3.9) / 299_792_458.0, _PHYS_V),
    })


# -- UCIe-3D / hybrid bonding as a function of pitch ---------------------------------------------------

_HB_E9, _HB_E1 = 0.05e-12, 0.01e-12  # J/bit at 9 um and ~1 um [P§1, P§2]
_HB_EXPONENT = math.log(_HB_E9 / _HB_E1) / math.log(9.0)  # ln 5 / ln 9 = 0.7325
# Data-carrying fraction of bond sites that reproduces 4000 GB/s/mm^2 at 9 um and 4 GT/s (derived):
_HB_SIGNAL_FRACTION = 4000e9 * 8 / ((1 / 9e-6**2) * 1e-6 * 4e9)


def hybrid_bond_energy(pitch):
    """Energy per bit of a UCIe-3D / hybrid-bond link at bond pitch ``pitch`` [m] -> [J/bit].

    A power law through the two sourced points (0.05 pJ/b at 9 µm, 0.01 pJ/b at ~1 µm; UCIe-3D
    targets, HI-2025 report, parameters.md §1–2): ``E = 0.05 pJ × (p / 9 µm)^(ln 5 / ln 9)``.
    Works on floats and on JAX arrays (differentiable in ``pitch``).

    Examples
    --------
    >>> round(hybrid_bond_energy(9e-6) * 1e12, 6), round(hybrid_bond_energy(1e-6) * 1e12, 6)
    (0.05, 0.01)
    """
    return _HB_E9 * (pitch / 9e-6) ** _HB_EXPONENT


def ucie_3d(pitch: float, *, name: str | None = None) -> PhySpec:
    """A UCIe-3D / hybrid-bond PHY at bond pitch ``pitch`` [m] (UCIe 2.0 covers 1–25 µm).

    Density is 1/p^2 bond sites per area; 4 GT/s per lane (UCIe-3D: ≤ 4 GT/s); the data fraction
    of sites (0.648) is derived so that 9 µm gives the 4000 GB/s/mm^2 of UCIe 2.0 Table 1-5
    (2nd); at 1 µm this gives 324 TB/s/mm^2, within 8% of the quoted 300 TB/s/mm^2. Energy per
    bit follows :func:`hybrid_bond_energy`.

    Examples
    --------
    >>> phy = ucie_3d(9e-6)
    >>> round(phy.bump_density * 1e-6), round(phy.areal_density / 8 / 1e9 * 1e-6)  # per mm^2, GB/s/mm^2
    (12346, 4000)
    """
    if not (isinstance(pitch, (int, float)) and 0.5e-6 <= pitch <= 60e-6):
        raise PhyError(f"`ucie_3d(pitch={pitch!r})`: give a bond pitch in metres between 0.5 um and 60 um, "
                       "e.g. ucie_3d(9e-6)")
    um = pitch * 1e6
    in_range = 1.0 <= um <= 9.0 + 1e-9
    e_src = ("spec target / derived: power law through 0.05 pJ/b at 9 um and 0.01 pJ/b at ~1 um "
             "(UCIe-3D, HI-2025 report) [P§1, P§2]")
    if not in_range:
        e_src += f"; EXTRAPOLATED to {um:g} um outside the sourced 1–9 um"
    return _spec(name or f"UCIe-3D-{um:g}um", "areal", {
        "bump_pitch": (pitch, "argument; UCIe 2.0 UCIe-3D covers 1–25 um [P§1]; density 1/p^2 [P§2]"),
        "lanes": (1, "model unit: one lane per direction per module (areal PHYs are sized by bond sites)"),
        "transfer_rate": (4e9, "spec: UCIe-3D <= 4 GT/s, HI-2025 report [P§1]"),
        "bits_per_transfer": (1, "spec: NRZ"),
        "module_width": (0.0, "areal PHY: no shoreline"),
        "module_depth": (0.0, "areal PHY: area = bond sites x pitch^2"),
        "energy_per_bit": (hybrid_bond_energy(pitch), e_src),
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"),
        "reach": (200e-6, f"{UNSOURCED}: face-to-face bond; any bond layer thinner than 200 um passes"),
        "latency": (2e-9, f"{UNSOURCED}: UCIe 2D/2.5D ~2 ns TX+RX target reused [P§1]"),
        "signal_fraction": (_HB_SIGNAL_FRACTION,
                            "derived: 4000 GB/s/mm^2 at 9 um (UCIe 2.0 Table 1-5, 2nd) / (12,346 /mm^2 x 4 Gb/s)"),
        "propagation_delay": (math.sqrt(3.9) / 299_792_458.0, _PHYS_V),
    })


# -- Proprietary and other D2D -------------------------------------------------------------------------

def _edge_from_pitch(name: str, *, pitch: tuple[float, str], lanes: tuple[int, str], rate: tuple[float, str],
                     energy: tuple[float, str], reach: tuple[float, str], depth: tuple[float, str],
                     signal_fraction: tuple[float, str], latency: tuple[float, str], kind: str = "edge",
                     bits: tuple[int, str] = (1, "NRZ"), width: tuple[float, str] | None = None) -> PhySpec:
    """An edge PHY whose module width follows from its bump map: 2·lanes data bumps at the
    given signal fraction on a square array of ``pitch``, ``depth`` deep."""
    p, d, sf = pitch[0], depth[0], signal_fraction[0]
    if width is None:
        sites = 2 * lanes[0] / sf
        width = (sites * p * p / d, f"derived: 2 x lanes / signal fraction sites at pitch^2 over the module depth")
    return _spec(name, kind, {
        "bump_pitch": pitch, "lanes": lanes, "transfer_rate": rate, "bits_per_transfer": bits,
        "module_width": width, "module_depth": depth, "energy_per_bit": energy,
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"), "reach": reach, "latency": latency,
        "signal_fraction": signal_fraction, "propagation_delay": (math.sqrt(3.9) / 299_792_458.0, _PHYS_V),
    })


_PH_LAT = (2e-9, f"{UNSOURCED}: UCIe's ~2 ns TX+RX target reused [P§1]")
_PH_SF = (0.5, f"{UNSOURCED}: half the bump sites carry data, the rest power/ground/clock")
_PH_DEPTH = (1e-3, f"{UNSOURCED}: 1 mm deep bump field")


def _bow() -> PhySpec:
    return _edge_from_pitch(
        "BoW-16",
        pitch=(45e-6, f"{UNSOURCED}: BoW runs on standard and advanced packages; 45 um (UCIe-A typical) chosen"),
        lanes=(16, f"{UNSOURCED}: BoW data wires per slice not verified [P§1]; 16 chosen"),
        rate=(16e9, "paper: 16 Gb/s per wire, the highest BoW rate specified [P§1]"),
        energy=(0.2e-12, "paper: < 0.2 pJ/b data-line power at 8/16 Gb/s (SI/PI study) [P§1]; data lines only"),
        reach=(10e-3, f"{UNSOURCED}: 10 mm"),
        depth=_PH_DEPTH, signal_fraction=_PH_SF, latency=_PH_LAT)


def _aib2() -> PhySpec:
    return _edge_from_pitch(
        "AIB-2.0",
        pitch=(36e-6, "vendor/spec: AIB 2.0 36 um bump pitch, Intel Arch Day 2020 via HotHardware [P§1]"),
        lanes=(40, f"{UNSOURCED}: 40 TX + 40 RX per channel"),
        rate=(6.4e9, "vendor/spec: up to 6.4 Gb/s per wire (AIB 2.0) [P§1]"),
        energy=(0.5e-12, f"{UNSOURCED}: AIB energy not sourced [P§1]; 0.5 pJ/b"),
        reach=(5e-3, f"{UNSOURCED}: 5 mm"),
        depth=_PH_DEPTH, signal_fraction=_PH_SF, latency=_PH_LAT)


def _emib(gen: str) -> PhySpec:
    if gen == "1":
        return _edge_from_pitch(
            "EMIB",
            pitch=(55e-6, "vendor: EMIB gen1 55 um bump pitch, Intel Arch Day 2020 via HotHardware [P§2]"),
            lanes=(40, f"{UNSOURCED}: 40 TX + 40 RX per AIB channel"),
            rate=(2e9, "vendor: 2 Gb/s per wire (AIB gen1 on EMIB) [P§1, P§2]"),
            energy=(0.5e-12, f"{UNSOURCED}: EMIB gen1 / AIB energy not sourced [P§1]; 0.5 pJ/b"),
            reach=(5e-3, f"{UNSOURCED}: 5 mm (bridge length class)"),
            depth=_PH_DEPTH, signal_fraction=_PH_SF, latency=_PH_LAT)
    return _edge_from_pitch(
        "EMIB-T",
        pitch=(40e-6, f"{UNSOURCED}: 'below today's 45 um' (Intel ECTC 2025 via epium.com) [P§2]; 40 um chosen"),
        lanes=(64, f"{UNSOURCED}: 64 per direction (UCIe-A-like module)"),
        rate=(32e9, f"{UNSOURCED}: 32 GT/s (UCIe-A class)"),
        energy=(0.25e-12, "vendor: ~0.25 pJ/b, Intel at ECTC 2025 via epium.com / worldnl.com [P§2]"),
        reach=(5e-3, f"{UNSOURCED}: 5 mm"),
        depth=_PH_DEPTH, signal_fraction=_PH_SF, latency=_PH_LAT)


def _placeholder_copy(base: PhySpec, name: str, why: str) -> PhySpec:
    """A proprietary PHY whose parameters are not public: ``base``'s values, all relabelled."""
    return dataclasses.replace(base, name=name, sources=tuple(
        (k, f"{UNSOURCED}: {why}; {base.name} value used ({s})") for k, s in base.sources))


# -- HBM host interfaces -------------------------------------------------------------------------------

_HBM = {
    # name: (bus width, Gb/s per pin, pin-rate source, bus source)
    "HBM2": (1024, 2.0, "vendor: 2.0 Gb/s (Samsung 'Aquabolt' table, electronnex) [P§3]",
             "spec: 1024 bit, JESD235A (techspot table) [P§3]"),
    "HBM2E": (1024, 3.2, "spec/vendor: 3.2 Gb/s (also 3.6 bins), hothardware [P§3]",
              "spec: 1024 bit [P§3]"),
    "HBM3": (1024, 6.4, "spec: 6.4 Gb/s, JEDEC JESD238 press release Jan 2022 [P§3]",
             "spec: 1024 bit (16 ch, 32 pseudo-ch), JESD238 [P§3]"),
    "HBM3E": (1024, 9.2, "vendor: 9.2 Gb/s Micron (tweakers); 9.8 Samsung; up to 10 claimed [P§3]",
              "spec: 1024 bit [P§3]"),
    "HBM4": (2048, 8.0, "spec: 8 Gb/s JEDEC JESD270-4 via hardforum/TechPowerUp; Micron samples > 11 [P§3]",
             "spec: 2048 bit (32 ch), JESD270-4 via telepolis.pl [P§3]"),
}


def _hbm(name: str) -> PhySpec:
    bus, gbps, rate_src, bus_src = _HBM[name]
    if name == "HBM2":
        e = (3.9e-12, "paper: ~3.9 pJ/b HBM2 device access incl. I/O, O'Connor et al. MICRO-50 2017 "
                      "(abstract) [P§3]; includes the DRAM core, an upper bound for the interface")
    else:
        e = (1.0e-12 if name == "HBM2E" else 0.5e-12,
             f"{UNSOURCED}: {name} interface pJ/b not sourced (2nd web ranges 3–9 pJ/b disagree) [P§3]; "
             "interface only (host PHY + base-die I/O), not the DRAM array. One paper abstract reports "
             "0.29 pJ/b for a 4 nm HBM3 host interface at 9 Gb/s/pin (IEEE JSSC 59(1) 2024, "
             "doi 10.1109/JSSC.2023.3330485)")
    width = 11e-3 if name == "HBM4" else 8e-3
    return _spec(name, "memory", {
        "bump_pitch": (55e-6, f"{UNSOURCED}: 55 um HBM microbump (CoWoS-class pitch UNSOURCED [P§2])"),
        "lanes": (bus, bus_src),
        "transfer_rate": (gbps * 1e9, rate_src),
        "bits_per_transfer": (1, "spec: DDR data pins, one bit per transfer (rate quoted per pin)"),
        "module_width": (width, f"{UNSOURCED}: host PHY shoreline {width * 1e3:g} mm per stack "
                                "(exact HBM footprints UNSOURCED [P§3])"),
        "module_depth": (1.5e-3, f"{UNSOURCED}: host PHY depth 1.5 mm"),
        "energy_per_bit": e,
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"),
        "reach": (5e-3, f"{UNSOURCED}: 5 mm interposer route"),
        "latency": (2e-9, f"{UNSOURCED}: 2 ns PHY latency (DRAM access latency not included)"),
        "signal_fraction": (1.0, "not used for memory PHYs"),
        "max_modules": (1, "one host PHY per HBM stack (a stack has one bus) [P§3]"),
        "propagation_delay": (math.sqrt(3.9) / 299_792_458.0, _PHYS_V),
        "stack_power": (20.0, "tool: TAP-2.5D / RLPlanner assume 20 W per HBM; power per stack UNSOURCED [P§3]"),
    }, duplex="half")


# -- SerDes --------------------------------------------------------------------------------------------

def _xsr() -> PhySpec:
    return _spec("XSR-112G", "serdes", {
        "bump_pitch": (130e-6, f"{UNSOURCED}: 130 um standard-package bump (UCIe-S upper pitch) [P§1]"),
        "lanes": (16, "paper: 1.8 Tb/s chiplet = 16 x 113 Gb/s, Gangasani et al. IEEE SSC-L 8 (2025) [P§1]"),
        "transfer_rate": (56.5e9, "paper: 113 Gb/s PAM4 = 56.5 GBd, Gangasani et al. 2025 [P§1]"),
        "bits_per_transfer": (2, "paper: PAM4"),
        "module_width": (16 * 0.22e-6 / 0.5e-3, "derived: 16 lanes x 0.22 mm^2 per lane (Gangasani 2025) "
                                               f"over a 0.5 mm depth ({UNSOURCED} depth)"),
        "module_depth": (0.5e-3, f"{UNSOURCED}: 0.5 mm"),
        "energy_per_bit": (1.1e-12, "paper: 1.1 pJ/b per lane, 5 nm, Gangasani et al. 2025 [P§1]"),
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"),
        "reach": (50e-3, f"{UNSOURCED}: 50 mm on package (paper gives 1–12 dB loss, not a length) [P§1]"),
        "latency": (5e-9, f"{UNSOURCED}: 5 ns"),
        "signal_fraction": (1.0, "not used for SerDes"),
        "propagation_delay": (math.sqrt(3.5) / 299_792_458.0, "physics: c/sqrt(3.5), organic build-up (est)"),
    })


def _lr() -> PhySpec:
    return _spec("LR-112G", "serdes", {
        "bump_pitch": (130e-6, f"{UNSOURCED}: 130 um"),
        "lanes": (8, f"{UNSOURCED}: 8 lanes per macro"),
        "transfer_rate": (56e9, "spec-class: 112G PAM4 = 56 GBd [P§1]"),
        "bits_per_transfer": (2, "PAM4"),
        "module_width": (2e-3, f"{UNSOURCED}: 2 mm per 8-lane macro"),
        "module_depth": (1.5e-3, f"{UNSOURCED}: 1.5 mm"),
        "energy_per_bit": (5e-12, f"{UNSOURCED}: full LR 112G DSP SerDes pJ/b not found in a primary; the "
                                  "often-quoted 4–6 pJ/b midpoint [P§1]"),
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"),
        "reach": (1.0, f"{UNSOURCED}: 1 m board/backplane class"),
        "latency": (50e-9, f"{UNSOURCED}: 50 ns (DSP + FEC)"),
        "signal_fraction": (1.0, "not used for SerDes"),
        "propagation_delay": (math.sqrt(3.5) / 299_792_458.0, "physics: c/sqrt(3.5), PCB/organic (est)"),
    })


# -- Optics -------------------------------------------------------------------------------------------

def _cpo(name: str, energy: tuple[float, str]) -> PhySpec:
    return _spec(name, "optical", {
        "bump_pitch": (130e-6, f"{UNSOURCED}: 130 um substrate-side bumps"),
        "lanes": (64, "derived: 64 x 100G electrical lanes per engine = 512 SerDes / 8 engines (TH5 "
                      "512 x 106.25G, chipcraft.tech 2nd; Bailly 8 engines) [P§1, P§4]"),
        "transfer_rate": (50e9, "derived: 100 Gb/s PAM4 lane = 50 GBd, so an engine carries 6.4 Tb/s "
                                "(51.2 T / 8, Broadcom Bailly via Electronic Design) [P§4]"),
        "bits_per_transfer": (2, "PAM4"),
        "module_width": (10e-3, f"{UNSOURCED}: 10 mm of host-die shoreline per engine"),
        "module_depth": (3e-3, f"{UNSOURCED}: 3 mm SerDes depth per engine"),
        "energy_per_bit": energy,
        "idle_power": (0.0, f"{UNSOURCED}: 0 W (lasers external in Bailly-class designs)"),
        "reach": (50e-3, f"{UNSOURCED}: 50 mm electrical hop to the engine on the substrate"),
        "latency": (10e-9, f"{UNSOURCED}: 10 ns"),
        "signal_fraction": (1.0, "not used for optics"),
        "propagation_delay": (math.sqrt(3.5) / 299_792_458.0, "physics: c/sqrt(3.5), organic substrate (est)"),
    }, energy_basis="port", alternative="pluggable-1.6T")


def _pluggable() -> PhySpec:
    return _spec("pluggable-1.6T", "optical", {
        "bump_pitch": (130e-6, f"{UNSOURCED}: 130 um (host SerDes bumps)"),
        "lanes": (8, "derived: 8 x 200G lanes per 1.6 Tb/s port (NVIDIA GTC 2025: 200G lanes) [P§4]"),
        "transfer_rate": (100e9, "derived: 200 Gb/s PAM4 = 100 GBd [P§4]"),
        "bits_per_transfer": (2, "PAM4"),
        "module_width": (4e-3, f"{UNSOURCED}: 4 mm host SerDes shoreline per port"),
        "module_depth": (2e-3, f"{UNSOURCED}: 2 mm"),
        "energy_per_bit": (30.0 / 1.6e12, "derived: ~30 W per pluggable port (NVIDIA GTC 2025 via notebookcheck) "
                                          "/ 1.6 Tb/s port = 18.75 pJ/b [P§4]"),
        "idle_power": (0.0, f"{UNSOURCED}: 0 W"),
        "reach": (2.0, f"{UNSOURCED}: 2 m to the front panel"),
        "latency": (100e-9, f"{UNSOURCED}: 100 ns (DSP retimer)"),
        "signal_fraction": (1.0, "not used for optics"),
        "propagation_delay": (math.sqrt(3.5) / 299_792_458.0, "physics: c/sqrt(3.5), PCB (est)"),
    }, energy_basis="port")


def _build() -> dict[str, PhySpec]:
    out: dict[str, PhySpec] = {}
    for v in ("S", "A"):
        for g in _UCIE_RATES:
            p = _ucie(v, g)
            out[p.name] = p
    for um in (25, 9, 6, 3, 1):
        p = ucie_3d(um * 1e-6)
        out[p.name] = p
    fov_src = (f"{UNSOURCED}: Foveros microbump rate, energy and data fraction are not sourced; the UCIe-3D "
               "model is extrapolated to this pitch")
    fov = ucie_3d(36e-6, name="Foveros").with_values(
        fov_src, transfer_rate=4e9, energy_per_bit=hybrid_bond_energy(36e-6), signal_fraction=_HB_SIGNAL_FRACTION,
        latency=2e-9)
    out["Foveros"] = fov.with_values(
        f"{UNSOURCED}: 36 um (Meteor-Lake/PVC-class Foveros; parameters.md marks it UNSOURCED; WikiChip "
        "'intel/foveros' says 36 um; Intel's sourced Lakefield figure is 50 um) [P§2]", bump_pitch=36e-6)
    out["Foveros-50um"] = dataclasses.replace(fov, name="Foveros-50um").with_values(
        fov_src, energy_per_bit=hybrid_bond_energy(50e-6)).with_values(
        "vendor: Foveros 50 um ~ 400 bumps/mm^2 (Lakefield), Intel Arch Day 2020 via HotHardware [P§2]",
        bump_pitch=50e-6)
    for p in (_bow(), _aib2(), _emib("1"), _emib("T"), _xsr(), _lr(), _pluggable()):
        out[p.name] = p
    for name in _HBM:
        out[name] = _hbm(name)
    out["CPO-6.4T"] = _cpo("CPO-6.4T", (9.0 / 1.6e12, "derived: ~9 W per CPO port (NVIDIA GTC 2025 via notebookcheck) "
                                                      "/ 1.6 Tb/s port = 5.625 pJ/b [P§4]"))
    out["CPO-Bailly"] = _cpo("CPO-Bailly", (5.5 / 800e9, "derived: 5.5 W per 800G (Broadcom Bailly, Laser Focus "
                                                         "World interview, cited by layouts/cpo_switch_51t.toml "
                                                         "[C2]) = 6.875 pJ/b"))
    out["NV-HBI"] = _placeholder_copy(out["UCIe-A-32"], "NV-HBI", "NVIDIA NV-HBI PHY parameters are not public")
    out["IF-AP"] = _placeholder_copy(out["UCIe-A-32"], "IF-AP",
                                     "AMD Infinity Fabric AP PHY parameters are not in parameters.md")
    out["IFOP"] = _placeholder_copy(out["XSR-112G"], "IFOP",
                                    "AMD Infinity Fabric On-Package parameters are not in parameters.md")
    return out


#: The built-in PHYs by name.
PHYS: dict[str, PhySpec] = _build()

#: Alternative spellings accepted in layouts (case-insensitive lookup is also tried).
PHY_ALIASES: dict[str, str] = {
    "UCIe-S": "UCIe-S-32", "UCIe-A": "UCIe-A-32", "UCIe-3D": "UCIe-3D-9um",
    "hybrid_bond": "UCIe-3D-9um", "SoIC": "UCIe-3D-9um", "Foveros-Direct": "UCIe-3D-9um",
    "BoW": "BoW-16", "AIB": "AIB-2.0", "XSR": "XSR-112G", "LR": "LR-112G", "serdes": "LR-112G",
    "optical": "CPO-6.4T", "CPO": "CPO-6.4T", "pluggable": "pluggable-1.6T",
}

#: PHYs considered by ``phy = "auto"``: the standard ones. Proprietary placeholders (NV-HBI, IF-AP,
#: IFOP, Foveros, EMIB) are excluded, and so is BoW, whose 0.2 pJ/b covers the data lines only and
#: would win every comparison unfairly; name them explicitly to use them.
AUTO_CANDIDATES: tuple[str, ...] = tuple(
    n for n in PHYS if n.startswith(("UCIe-", "AIB", "XSR", "LR", "HBM", "CPO-6.4T")))


def get_phy(name: str, phys: Mapping[str, PhySpec] | None = None, *, where: str = "") -> PhySpec:
    """Look a PHY up by name or alias; ``phys`` entries take precedence over the built-ins.

    Raises
    ------
    PhyError
        For an unknown name, naming the closest known one.
    """
    table = {**PHYS, **(phys or {})}
    if name in table:
        return table[name]
    aliased = PHY_ALIASES.get(name)
    if aliased is not None:
        return table[aliased]
    folded = {k.lower(): k for k in list(table) + list(PHY_ALIASES)}
    if name.lower() in folded:
        return get_phy(folded[name.lower()], phys)
    options = sorted(set(table) | set(PHY_ALIASES))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.4)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    at = f"{where}: " if where else ""
    raise PhyError(f"{at}unknown PHY {name!r}{hint} Known PHYs: {', '.join(options)}; or pass "
                   "`phys={name: PhySpec(...)}` to define it")


_TOML_KINDS = {
    "bump_pitch": "length", "transfer_rate": "transfer_rate", "module_width": "length",
    "module_depth": "length", "energy_per_bit": "energy_per_bit", "idle_power": "power", "reach": "length",
    "latency": "time", "stack_power": "power",
}
_TOML_INTS = ("lanes", "bits_per_transfer", "max_modules")
_TOML_NUMBERS = ("signal_fraction",)
_TOML_STRINGS = ("kind", "duplex", "energy_basis", "alternative")


def phys_from_toml(tables: Mapping[str, Any], *, base: Mapping[str, PhySpec] | None = None) -> dict[str, PhySpec]:
    """PHY specs from TOML-style tables, e.g. a layout's ``[phys.NAME]`` section.

    Each table names a ``base`` PHY (default: the same name) and overrides values with unit
    strings (``energy_per_bit = "0.2 pJ/bit"``, ``reach = "3 mm"``, ``transfer_rate = "16 GT/s"``)
    or plain integers (``lanes``); ``source`` (required when values change) labels every value
    given. The layout loader does not read ``[phys]`` yet: call this on the parsed TOML and pass
    the result as ``evaluate_links(stack, phys=...)``.

    Examples
    --------
    >>> p = phys_from_toml({"myphy": {"base": "UCIe-A-16", "reach": "3 mm", "source": "vendor X datasheet"}})
    >>> p["myphy"].reach, p["myphy"].source("reach")
    (0.003, 'vendor X datasheet')
    """
    out: dict[str, PhySpec] = {}
    problems: list[str] = []
    known = {**PHYS, **(base or {})}
    allowed = ("base", "source", *_TOML_KINDS, *_TOML_INTS, *_TOML_NUMBERS, *_TOML_STRINGS)
    for name, tbl in tables.items():
        path = f"phys.{name}"
        if not isinstance(tbl, Mapping):
            problems.append(f"{path}: expected a table, got {tbl!r}")
            continue
        for k in tbl:
            if k not in allowed:
                close = difflib.get_close_matches(str(k), allowed, n=1, cutoff=0.6)
                problems.append(f"{path}.{k}: unknown field" + (f"; did you mean {close[0]!r}?" if close
                                                                   else f"; allowed: {', '.join(allowed)}"))
        try:
            b = get_phy(str(tbl.get("base", name)), known, where=f"{path}.base")
        except PhyError as e:
            problems.append(str(e))
            continue
        changes: dict[str, Any] = {}
        for k, kind in _TOML_KINDS.items():
            if k in tbl:
                try:
                    changes[k] = parse_quantity(tbl[k], kind)
                except UnitError as e:
                    problems.append(f"{path}.{k}: {e}")
        for k in _TOML_INTS:
            if k in tbl:
                v = tbl[k]
                if isinstance(v, bool) or not isinstance(v, int):
                    problems.append(f"{path}.{k}: expected an integer, got {v!r}")
                else:
                    changes[k] = v
        for k in _TOML_NUMBERS:
            if k in tbl:
                try:
                    changes[k] = parse_quantity(tbl[k], "dimensionless")
                except UnitError as e:
                    problems.append(f"{path}.{k}: {e}")
        plain = {k: tbl[k] for k in _TOML_STRINGS if k in tbl}
        source = tbl.get("source")
        if changes and not (isinstance(source, str) and source.strip()):
            problems.append(f"{path}.source: give a source string for the values you set "
                            f"({', '.join(changes)}), e.g. source = \"vendor datasheet, 2025\"")
            continue
        try:
            spec = b.with_values(source or "", **changes) if changes else b
            out[name] = dataclasses.replace(spec, name=name, **plain)
        except (PhyError, TypeError) as e:
            problems.append(f"{path}: {e}")
    if problems:
        raise PhyError(f"`phys_from_toml`: {len(problems)} problem{'s' if len(problems) != 1 else ''}\n  "
                       + "\n  ".join(problems))
    return out
