"""Gradient-based, thermal-aware placement of the chiplets of one layer.

The dies of one layer move in x-y on a **fixed** grid. Their footprints are rasterised softly
onto that grid -- the cell average of a die indicator whose edges are logistic ramps of scale
``edge_width`` (a 10-90 % width of about one cell) -- into the per-element conductivity of the die layer (and the
bump layer under it, when its bumps sit only under the dies) and into the source field. The
steady temperature is then a smooth function of the die positions, and ``jax.grad`` goes through
:func:`solvers.solve_steady` (an adjoint solve). The objective is

``J = smooth_max(T over the die layer) + w_wire * wirelength + w_footprint * footprint
+ w_penalty * (overlap + keep_in + reach)``

minimised with Adam (optax). The result is legalised (snapped, overlaps pushed apart, kept inside
the layer's extent), re-meshed on a conforming grid with ``stack.with_chiplet(name, rect=...)``
and re-solved with :func:`codesign.thermal.analyse`, so the before/after figures come from the
ordinary, exact model.

Units inside the optimiser: positions in mm, temperatures in kelvin, wirelength in mm (weighted
by traffic: each link's bandwidth over the largest), footprint in mm^2.

Limitations: power maps are spread uniformly over their die in the soft model (power blocks move
with their die and are kept); dies keep their size and orientation; one layer moves at a time.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import ModelError
from ..model import Model, build
from ..stack import Chiplet, PowerBlock, Rect, Stack

__all__ = [
    "PlacementError",
    "PlacementWeights",
    "SoftPlacementModel",
    "PlacementResult",
    "build_soft_model",
    "optimize_placement",
    "legalize",
    "move_chiplets",
    "wirelength",
]

KELVIN = 273.15


class PlacementError(ModelError):
    """A placement problem could not be set up or legalised."""


@dataclass(frozen=True)
class PlacementWeights:
    """Weights of the placement objective (temperatures in K, lengths in mm).

    Attributes
    ----------
    wirelength : float
        K per traffic-weighted mm of link length (centre to centre).
    footprint : float
        K per mm^2 of the dies' bounding box.
    overlap : float
        K per mm^2 of pairwise overlap (soft; min_spacing counts as overlap).
    keep_in : float
        K per mm^2 of die area outside the layer extent (squared excursion, mm^2).
    reach : float
        K per mm^2 of squared excess of a link's edge-to-edge gap over its PHY's reach.
    beta : float
        Sharpness of the smooth maximum [1/K]: ``log-sum-exp(beta T) / beta``.
    """

    wirelength: float = 0.05
    footprint: float = 0.0
    overlap: float = 20.0
    keep_in: float = 20.0
    reach: float = 5.0
    beta: float = 2.0


@dataclass(frozen=True, eq=False)
class SoftPlacementModel:
    """The fixed-grid, differentiable model of a layer's placement (see :func:`build_soft_model`).

    Attributes
    ----------
    stack : Stack
        The original stack.
    layer : str
        The layer whose chiplets move.
    names : tuple of str
        The movable chiplets, in parameter order.
    sizes : numpy.ndarray
        ``(n, 2)`` die widths and heights [mm].
    start : numpy.ndarray
        ``(n, 2)`` lower-left corners of the layout [mm].
    model : Model
        The fixed grid (the movable dies spread over the layer with no power).
    base_fields : solvers.ThermalFields
        ``model.fields()`` with the movable dies' layer (and bumps under them) set to the fill.
    """

    stack: Stack
    layer: str
    names: tuple
    sizes: np.ndarray
    start: np.ndarray
    powers: np.ndarray
    model: Model
    base_fields: object
    edge_width: float
    weights: PlacementWeights
    extent: tuple
    links: tuple
    _arrays: dict = field(default_factory=dict, repr=False)

    # -- the soft model ---------------------------------------------------------------------
    def fields(self, positions, powers=None):
        """:class:`solvers.ThermalFields` with the dies at ``positions`` ``(n, 2)`` [mm]."""
        import jax.numpy as jnp

        a = self._arrays
        pos = jnp.asarray(positions) * 1e-3
        pw = jnp.asarray(self.powers if powers is None else powers)
        occ = []  # per die: (nx, ny) occupancy in [0, 1]
        src = jnp.asarray(a["base_source"])
        for i in range(len(self.names)):
            ox = _soft_cover(a["x"], pos[i, 0], pos[i, 0] + a["size"][i, 0], self.edge_width)
            oy = _soft_cover(a["y"], pos[i, 1], pos[i, 1] + a["size"][i, 1], self.edge_width)
            o = ox[:, None] * oy[None, :]
            occ.append(o)
            # power: uniform part over the die, blocks over their moving sub-rectangles
            parts = [(o, pw[i] * a["uniform_fraction"][i])]
            for (bx, by, bw, bh, frac) in a["blocks"][i]:
                bxo = _soft_cover(a["x"], pos[i, 0] + bx, pos[i, 0] + bx + bw, self.edge_width)
                byo = _soft_cover(a["y"], pos[i, 1] + by, pos[i, 1] + by + bh, self.edge_width)
                parts.append((bxo[:, None] * byo[None, :], pw[i] * frac))
            slab = jnp.asarray(a["active"][i])  # (nz,) 1 in the active slab
            for plane, p in parts:
                area = jnp.sum(plane * a["cell_area"])
                src = src + (p / (area * a["active_thickness"][i])) * plane[:, :, None] * slab[None, None, :]
        occ = jnp.stack(occ)
        zl = jnp.asarray(a["layer_z"])[None, None, :]
        ks = []
        for c, kname in enumerate(("kx", "ky", "kz")):
            base = jnp.asarray(a[kname])
            fill = a["fill_k"][c]
            dk = jnp.einsum("ixy,i->xy", occ, jnp.asarray(a["die_k"][:, c] - fill))
            k = base + zl * dk[:, :, None] * a["inside"][:, :, None]
            if a["bump_z"] is not None:
                cover = jnp.minimum(jnp.sum(occ, axis=0), 1.0) * a["bump_inside"]
                k = k + jnp.asarray(a["bump_z"])[None, None, :] * cover[:, :, None] * (a["bump_k"][c] - a["bump_fill_k"][c])
            ks.append(k)
        return self.base_fields.with_(kx=ks[0], ky=ks[1], kz=ks[2], source=src)

    def temperature(self, positions, powers=None, *, rtol: float = 1e-10):
        """Nodal temperature [K] of the soft model."""
        from solvers import solve_steady

        return solve_steady(self.model.grid, self.fields(positions, powers), rtol=rtol, throw=False,
                            max_iterations=400).temperature

    def terms(self, positions, powers=None, *, rtol: float = 1e-10) -> dict:
        """Every term of the objective (traceable): ``peak`` [K above ambient, smooth], ``wirelength``
        [mm], ``footprint`` [mm^2], ``overlap``, ``keep_in``, ``reach`` [mm^2]."""
        import jax.numpy as jnp
        from jax.scipy.special import logsumexp

        a = self._arrays
        T = self.temperature(positions, powers, rtol=rtol)
        rise = T[:, :, a["node_z0"]:a["node_z1"] + 1] - a["ambient"]
        b = self.weights.beta
        peak = logsumexp(b * rise) / b
        pos = jnp.asarray(positions)
        return {"peak": peak, **_geometry_terms(self, pos)}

    def objective(self, positions, powers=None, *, rtol: float = 1e-10):
        """The scalar placement objective [K-equivalent]."""
        t = self.terms(positions, powers, rtol=rtol)
        w = self.weights
        return (t["peak"] + w.wirelength * t["wirelength"] + w.footprint * t["footprint"]
                + w.overlap * t["overlap"] + w.keep_in * t["keep_in"] + w.reach * t["reach"])


def _soft_cover(nodes, lo, hi, s):
    """Cell averages over the cells between ``nodes`` of the indicator of [lo, hi] with logistic
    edges of width ``s`` (exact integrals via softplus); integrates to ``hi - lo`` inside."""
    import jax.numpy as jnp
    from jax.nn import softplus

    xn = jnp.asarray(nodes)
    F = lambda u: s * softplus(u / s)  # noqa: E731  antiderivative of the logistic ramp
    G = (F(xn - lo) - F(xn - hi))  # antiderivative of sigma((x-lo)/s) - sigma((x-hi)/s)
    return (G[1:] - G[:-1]) / (xn[1:] - xn[:-1])


def _smooth_max(v, t):
    from jax.scipy.special import logsumexp

    return t * logsumexp(v / t)


def _geometry_terms(model: SoftPlacementModel, pos) -> dict:
    """Wirelength, footprint and the penalties, from lower-left corners ``pos`` [mm] (traceable)."""
    import jax.numpy as jnp
    from jax.nn import relu, softplus

    size = jnp.asarray(model.sizes)
    lo, hi = pos, pos + size
    centre = pos + 0.5 * size
    n = len(model.names)
    # overlap of every pair, softly (0.05 mm softplus), with the minimum spacing as a margin
    ov = jnp.asarray(0.0)
    sp = lambda u: 0.05 * softplus(u / 0.05)  # noqa: E731
    gap = model._arrays["min_spacing"]
    for i in range(n):
        for j in range(i + 1, n):
            ox = jnp.minimum(hi[i, 0], hi[j, 0]) - jnp.maximum(lo[i, 0], lo[j, 0]) + gap
            oy = jnp.minimum(hi[i, 1], hi[j, 1]) - jnp.maximum(lo[i, 1], lo[j, 1]) + gap
            ov = ov + sp(ox) * sp(oy)
    ex0, ey0, ex1, ey1 = model.extent
    keep = jnp.sum(relu(ex0 - lo[:, 0]) ** 2 + relu(ey0 - lo[:, 1]) ** 2
                   + relu(hi[:, 0] - ex1) ** 2 + relu(hi[:, 1] - ey1) ** 2)
    wl = jnp.asarray(0.0)
    reach = jnp.asarray(0.0)
    for (ia, ib, fixed_a, fixed_b, wgt, r) in model.links:
        ca = centre[ia] if ia >= 0 else jnp.asarray(fixed_a[:2])
        cb = centre[ib] if ib >= 0 else jnp.asarray(fixed_b[:2])
        sa = size[ia] if ia >= 0 else jnp.asarray(fixed_a[2:])
        sb = size[ib] if ib >= 0 else jnp.asarray(fixed_b[2:])
        d = ca - cb
        wl = wl + wgt * jnp.sqrt(jnp.sum(d * d) + 1e-6)
        if r is not None:
            g = relu(jnp.abs(d) - 0.5 * (sa + sb))
            e = jnp.sqrt(jnp.sum(g * g) + 1e-9)
            reach = reach + relu(e - r) ** 2
    bx = _smooth_max(hi[:, 0], 0.2) + _smooth_max(-lo[:, 0], 0.2)
    by = _smooth_max(hi[:, 1], 0.2) + _smooth_max(-lo[:, 1], 0.2)
    return {"wirelength": wl, "footprint": bx * by, "overlap": ov, "keep_in": keep, "reach": reach}


def wirelength(stack: Stack) -> float:
    """Traffic-weighted centre-to-centre wirelength of a stack's links [mm] (weights: bandwidth / max).

    Examples
    --------
    >>> from codesign import load_layout
    >>> round(wirelength(load_layout("demo")), 6)   # logic to each HBM: 8 mm, equal traffic
    16.0
    """
    if not stack.links:
        return 0.0
    bw = max(l.bandwidth for l in stack.links) or 1.0
    total = 0.0
    for l in stack.links:
        a, b = (stack.chiplet(n).rect.centre for n in l.endpoints)
        total += l.bandwidth / bw * math.hypot(a[0] - b[0], a[1] - b[1]) * 1e3
    return total


def _phy_reach(link) -> float | None:
    if link.phy in (None, "auto"):
        return None
    try:
        from ..phys import get_phy

        return float(get_phy(link.phy).reach) * 1e3
    except Exception:  # an unknown PHY has no reach to enforce here; the interconnect model reports it
        return None


def build_soft_model(stack: Stack, *, layer: str | None = None, cell_size: float | None = None,
                     edge_width: float | None = None, weights: PlacementWeights | None = None,
                     min_spacing: float = 0.0, mesh: dict | None = None) -> SoftPlacementModel:
    """Set up the fixed-grid soft placement model of one layer's chiplets.

    Parameters
    ----------
    stack : Stack
    layer : str, optional
        The layer whose chiplets move; default: the layer with the most chiplets.
    cell_size : float, optional
        Lateral cell size of the fixed grid [m]; default: the layout's ``max_lateral_size``.
    edge_width : float, optional
        Scale ``s`` of the logistic die edges [m]; default: a quarter cell, so the 10-90 % ramp
        (4.4 s) is about one cell wide. Smaller is closer to the conforming model but less smooth.
    weights : PlacementWeights, optional
    min_spacing : float
        Gap to keep between dies [m].
    mesh : dict, optional
        Other :func:`codesign.build` mesh overrides (``cells_per_layer``, ``max_vertical_size``).
    """
    if layer is None:
        layer = max(stack.layers, key=lambda l: len(l.chiplets)).name
    lay = stack.layer(layer)
    chips = lay.chiplets
    if not chips:
        raise PlacementError(f"`build_soft_model(layer={layer!r})`: the layer has no chiplets to place; layers "
                             f"with chiplets: {[l.name for l in stack.layers if l.chiplets]}")
    spanning = [c.name for c in stack.occupants(layer) if c.spans]  # the soft model moves one-layer dies only
    if spanning:
        free = [l.name for l in stack.layers if l.chiplets and not any(c.spans for c in stack.occupants(l.name))]
        raise PlacementError(f"`build_soft_model(layer={layer!r})`: {', '.join(spanning)} span several layers "
                             "(spans = [...]), which soft placement does not model yet; "
                             + (f"choose a layer without them: {free}" if free else
                                "no layer of this stack is free of them (place the dies with the conforming model)"))
    h = float(cell_size or stack.mesh.max_lateral_size)
    s = float(edge_width or 0.25 * h)
    # The fixed stack: every movable die spread over the whole extent with no power, so the grid
    # has no lines at die edges but keeps each die's active-slab plane in z.
    fixed = stack
    for c in chips:
        fixed = fixed.with_chiplet(c.name, rect=lay.extent, power=0.0, power_blocks=(), power_map=None)
    model = build(fixed, max_lateral_size=h, min_lateral_size=h, grading=1.0, **(mesh or {}))
    base = model.fields()
    g = model.grid
    zb, zt = model.layer_z[layer]
    zc = g.element_centres()[2]
    layer_z = ((zc > zb) & (zc < zt)).astype(float)
    xc, yc, _ = g.element_centres()
    inside = (((xc > lay.extent.x) & (xc < lay.extent.x1))[:, None]
              & ((yc > lay.extent.y) & (yc < lay.extent.y1))[None, :]).astype(float)
    fill = stack.material(lay.material)
    fill_k = np.array([fill.kx, fill.ky, fill.kz])
    kx, ky, kz = (np.array(getattr(base, k)) for k in ("kx", "ky", "kz"))
    m3 = (inside[:, :, None] * layer_z[None, None, :]) > 0
    for arr, v in zip((kx, ky, kz), fill_k):
        arr[m3] = v
    heat_capacity = np.array(base.heat_capacity)  # only for consistency: steady solves ignore it
    heat_capacity[m3] = fill.heat_capacity
    base = base.with_(heat_capacity=heat_capacity)
    # the bump layer right below, when its bumps sit only under the dies above
    idx = [l.name for l in stack.layers].index(layer)
    bump_z = bump_k = bump_fill_k = None
    bump_inside = 0.0
    if idx + 1 < len(stack.layers):
        below = stack.layers[idx + 1]
        if below.interconnect is not None and below.interconnect_region == "under_above":
            bzb, bzt = model.layer_z[below.name]
            bump_z = ((zc > bzb) & (zc < bzt)).astype(float)
            ic = stack.material(f"{below.name}:{below.interconnect.kind}")
            bf = stack.material(below.material)
            bump_k, bump_fill_k = np.array([ic.kx, ic.ky, ic.kz]), np.array([bf.kx, bf.ky, bf.kz])
            bump_inside = (((xc > below.extent.x) & (xc < below.extent.x1))[:, None]
                           & ((yc > below.extent.y) & (yc < below.extent.y1))[None, :]).astype(float)
            bm = (bump_inside[:, :, None] * bump_z[None, None, :]) > 0
            for arr, v in zip((kx, ky, kz), bump_fill_k):
                arr[bm] = v
    die_k = np.array([[stack.material(c.material).kx, stack.material(c.material).ky,
                       stack.material(c.material).kz] for c in chips])
    active, t_act, uniform, blocks = [], [], [], []
    for c in chips:
        t = c.active_thickness or (zt - zb)
        lo, hi = (zb, zb + t) if c.active_side == "bottom" else (zt - t, zt)
        active.append(((zc > lo) & (zc < hi)).astype(float))
        t_act.append(float(np.sum(np.diff(g.z)[(zc > lo) & (zc < hi)])))
        tot = c.total_power
        uniform.append((c.power + (c.power_map.total if c.power_map else 0.0)) / tot if tot > 0 else 1.0)
        blocks.append(tuple((b.rect.x - c.rect.x, b.rect.y - c.rect.y, b.rect.width, b.rect.height,
                             b.power / tot) for b in c.power_blocks) if tot > 0 else ())
    names = tuple(c.name for c in chips)
    node_z = np.flatnonzero((g.z >= zb - 1e-12) & (g.z <= zt + 1e-12))
    amb = min(float(np.min(np.asarray(v))) for v in base.ambient.values())
    arrays = {
        "x": g.x, "y": g.y, "cell_area": np.outer(np.diff(g.x), np.diff(g.y)),
        "size": np.array([[c.rect.width, c.rect.height] for c in chips]),
        "base_source": np.asarray(base.source), "kx": kx, "ky": ky, "kz": kz,
        "layer_z": layer_z, "inside": inside, "fill_k": fill_k, "die_k": die_k,
        "bump_z": bump_z, "bump_k": bump_k, "bump_fill_k": bump_fill_k, "bump_inside": bump_inside,
        "active": np.array(active), "active_thickness": np.array(t_act), "uniform_fraction": np.array(uniform),
        "blocks": blocks, "node_z0": int(node_z[0]), "node_z1": int(node_z[-1]), "ambient": amb,
        "min_spacing": float(min_spacing) * 1e3,
    }
    links = []
    bw = max((l.bandwidth for l in stack.links), default=1.0) or 1.0
    for l in stack.links:
        ends = []
        for n in l.endpoints:
            if n in names:
                ends.append((names.index(n), None))
            else:
                r = stack.chiplet(n).rect
                ends.append((-1, np.array([r.centre[0], r.centre[1], r.width, r.height]) * 1e3))
        same = all(e[0] >= 0 for e in ends)
        links.append((ends[0][0], ends[1][0], ends[0][1], ends[1][1], l.bandwidth / bw,
                      _phy_reach(l) if same else None))
    ext = lay.extent
    return SoftPlacementModel(
        stack=stack, layer=layer, names=names,
        sizes=np.array([[c.rect.width, c.rect.height] for c in chips]) * 1e3,
        start=np.array([[c.rect.x, c.rect.y] for c in chips]) * 1e3,
        powers=np.array([c.total_power for c in chips]), model=model, base_fields=base, edge_width=s,
        weights=weights or PlacementWeights(), extent=(ext.x * 1e3, ext.y * 1e3, ext.x1 * 1e3, ext.y1 * 1e3),
        links=tuple(links), _arrays=arrays)


# ======================================================================================
# legalisation and moving dies
def move_chiplets(stack: Stack, positions: dict) -> Stack:
    """A copy of ``stack`` with chiplets moved: ``{name: (x, y)}`` lower-left corners [m].

    Power blocks move with their die.
    """
    for name, (x, y) in positions.items():
        c = stack.chiplet(name)
        dx, dy = x - c.rect.x, y - c.rect.y
        blocks = tuple(dataclasses.replace(b, rect=Rect(b.rect.x + dx, b.rect.y + dy, b.rect.width, b.rect.height))
                       for b in c.power_blocks)
        stack = stack.with_chiplet(name, rect=Rect(x, y, c.rect.width, c.rect.height), power_blocks=blocks)
    return stack


def legalize(model: SoftPlacementModel, positions, *, snap: float = 50e-6, max_rounds: int = 200) -> np.ndarray:
    """Legal lower-left corners [mm]: snapped to ``snap`` [m], inside the extent, no overlaps.

    Overlapping pairs are pushed apart along the axis of least penetration (half each, within
    the extent) until none is left. Raises :class:`PlacementError` when that fails (the dies do
    not fit).
    """
    p = np.array(positions, dtype=float)
    size = model.sizes
    ex0, ey0, ex1, ey1 = model.extent
    q = snap * 1e3
    gap = model._arrays["min_spacing"]
    lo_b = np.array([ex0, ey0])
    hi_b = np.array([ex1, ey1]) - size

    def clamp_snap(p):
        p = np.clip(p, lo_b, hi_b)
        p = np.round((p - lo_b) / q) * q + lo_b
        return np.clip(p, lo_b, hi_b)

    p = clamp_snap(p)
    n = len(p)
    for _ in range(max_rounds):
        moved = False
        for i in range(n):
            for j in range(i + 1, n):
                ox = min(p[i, 0] + size[i, 0], p[j, 0] + size[j, 0]) - max(p[i, 0], p[j, 0]) + gap
                oy = min(p[i, 1] + size[i, 1], p[j, 1] + size[j, 1]) - max(p[i, 1], p[j, 1]) + gap
                if ox > 1e-9 and oy > 1e-9:
                    ax = 0 if ox <= oy else 1
                    push = (ox if ax == 0 else oy) / 2 + q / 2
                    sgn = 1.0 if (p[i, ax] + size[i, ax] / 2) >= (p[j, ax] + size[j, ax] / 2) else -1.0
                    p[i, ax] += sgn * push
                    p[j, ax] -= sgn * push
                    moved = True
        p = clamp_snap(p)
        if not moved:
            return p
    bad = [(model.names[i], model.names[j]) for i in range(n) for j in range(i + 1, n)
           if min(p[i, 0] + size[i, 0], p[j, 0] + size[j, 0]) - max(p[i, 0], p[j, 0]) + gap > 1e-9
           and min(p[i, 1] + size[i, 1], p[j, 1] + size[j, 1]) - max(p[i, 1], p[j, 1]) + gap > 1e-9]
    raise PlacementError(f"`legalize`: dies still overlap after {max_rounds} rounds: {bad}; the dies of layer "
                         f"{model.layer!r} may not fit its extent with min_spacing={gap} mm. Enlarge the layer "
                         f"extent or reduce min_spacing.")


# ======================================================================================
# the optimiser
@dataclass(frozen=True, eq=False)
class PlacementResult:
    """Before/after of an optimisation (positions are lower-left corners [mm]).

    ``before``/``after`` hold ``positions``, ``peak_C`` (max temperature of the conforming re-solve),
    ``tj_C`` per chiplet, ``wirelength_mm`` (traffic-weighted) and the soft objective's ``terms``.
    ``history`` lists per step ``objective`` and ``peak`` (soft, K above ambient).
    """

    stack_before: Stack
    stack_after: Stack
    names: tuple
    before: dict
    after: dict
    history: list
    seconds: float
    powers: dict | None = None

    def table(self) -> str:
        lines = [f"{'':24s} {'before':>14s} {'after':>14s}",
                 f"{'peak temperature degC':24s} {self.before['peak_C']:14.2f} {self.after['peak_C']:14.2f}",
                 f"{'wirelength mm (weighted)':24s} {self.before['wirelength_mm']:14.2f} {self.after['wirelength_mm']:14.2f}"]
        for n in self.before["tj_C"]:
            lines.append(f"{('Tj ' + n + ' degC'):24s} {self.before['tj_C'][n]:14.2f} {self.after['tj_C'][n]:14.2f}")
        for n in self.names:
            b, a = self.before["positions"][n], self.after["positions"][n]
            lines.append(f"{(n + ' x,y mm'):24s} {b[0]:6.2f},{b[1]:6.2f}   {a[0]:6.2f},{a[1]:6.2f}")
        if self.powers:
            for n, p in self.powers.items():
                lines.append(f"{(n + ' power W'):24s} {self.stack_before.chiplet(n).total_power:14.2f} {p:14.2f}")
        lines.append(f"({len(self.history)} Adam steps, {self.seconds:.1f} s)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"names": list(self.names), "before": self.before, "after": self.after, "history": self.history,
                "seconds": self.seconds, "powers_W": self.powers}


def _evaluate(stack: Stack, names, mesh: dict | None) -> dict:
    from ..thermal import analyse

    rep = analyse(build(stack, **(mesh or {})))
    return {"positions": {n: [stack.chiplet(n).rect.x * 1e3, stack.chiplet(n).rect.y * 1e3] for n in names},
            "peak_C": rep.max_temperature - KELVIN,
            "tj_C": {c.name: c.junction - KELVIN for c in rep.chiplets},
            "wirelength_mm": wirelength(stack)}


def optimize_placement(stack: Stack, *, layer: str | None = None, steps: int = 60, learning_rate: float = 0.3,
                       weights: PlacementWeights | None = None, cell_size: float | None = None,
                       optimize_power: bool = False, min_spacing: float = 0.0, snap: float = 50e-6,
                       mesh: dict | None = None, analysis_mesh: dict | None = None,
                       progress=sys.stderr) -> PlacementResult:
    """Move the chiplets of one layer to lower the peak temperature (and wirelength), then legalise.

    Parameters
    ----------
    stack : Stack
    layer : str, optional
        The layer whose dies move (default: the one with the most chiplets).
    steps : int
        Adam steps.
    learning_rate : float
        Adam step size [mm].
    weights : PlacementWeights, optional
    cell_size : float, optional
        Lateral cell of the fixed optimisation grid [m] (default: the layout's max lateral size).
    optimize_power : bool
        Also redistribute the layer's total power among its powered dies (softmax shares).
    min_spacing : float
        Gap kept between dies [m].
    snap : float
        Legalisation grid [m].
    mesh, analysis_mesh : dict, optional
        :func:`codesign.build` mesh overrides for the fixed grid and for the before/after solves.

    Returns
    -------
    PlacementResult
    """
    import jax
    import jax.numpy as jnp
    import optax

    if steps < 0:
        raise PlacementError(f"`optimize_placement(steps={steps})` must be >= 0")
    t0 = time.perf_counter()
    model = build_soft_model(stack, layer=layer, cell_size=cell_size, weights=weights, min_spacing=min_spacing,
                             mesh=mesh)
    total = float(np.sum(model.powers))
    powered = model.powers > 0

    def unpack(params):
        if not optimize_power:
            return params["pos"], None
        share = jax.nn.softmax(jnp.where(jnp.asarray(powered), params["logits"], -jnp.inf))
        return params["pos"], total * share

    def loss(params):
        pos, pw = unpack(params)
        return model.objective(pos, pw, rtol=1e-9)

    params = {"pos": jnp.asarray(model.start)}
    if optimize_power:
        params["logits"] = jnp.log(jnp.where(jnp.asarray(powered), jnp.asarray(model.powers), 1.0))
    opt = optax.adam(learning_rate)
    state = opt.init(params)

    @jax.jit
    def step(params, state):
        val, g = jax.value_and_grad(loss)(params)
        # optax's bias correction mixes its int32 step count with floats, which a caller's strict
        # dtype promotion would reject; the update itself is ours to keep in standard promotion
        with jax.numpy_dtype_promotion("standard"):
            upd, state = opt.update(g, state, params)
            return optax.apply_updates(params, upd), state, val

    history = []
    for k in range(steps):
        params, state, val = step(params, state)
        history.append({"step": k, "objective": float(val)})
        if progress is not None and (k % 10 == 0 or k == steps - 1):
            progress.write(f"placement: step {k + 1}/{steps}, objective {float(val):.3f}\n")
            progress.flush()
    pos, pw = unpack(params)
    pos = np.asarray(pos)
    legal = legalize(model, pos, snap=snap)
    after_stack = move_chiplets(stack, {n: (legal[i, 0] * 1e-3, legal[i, 1] * 1e-3) for i, n in enumerate(model.names)})
    powers = None
    if optimize_power:
        powers = {n: float(p) for n, p in zip(model.names, np.asarray(pw))}
        for n, p in powers.items():
            c = after_stack.chiplet(n)
            if c.total_power > 0:
                s = p / c.total_power
                after_stack = after_stack.with_chiplet(
                    n, power=c.power * s, power_map=None if c.power_map is None else dataclasses.replace(
                        c.power_map, values=tuple(tuple(v * s for v in r) for r in c.power_map.values)),
                    power_blocks=tuple(dataclasses.replace(b, power=b.power * s) for b in c.power_blocks))
    before = _evaluate(stack, model.names, analysis_mesh)
    after = _evaluate(after_stack, model.names, analysis_mesh)
    soft_b = model.terms(jnp.asarray(model.start))
    soft_a = model.terms(jnp.asarray(legal), None if pw is None else jnp.asarray(pw))
    before["soft_terms"] = {k: float(v) for k, v in soft_b.items()}
    after["soft_terms"] = {k: float(v) for k, v in soft_a.items()}
    return PlacementResult(stack_before=stack, stack_after=after_stack, names=model.names, before=before,
                           after=after, history=history, seconds=time.perf_counter() - t0, powers=powers)
