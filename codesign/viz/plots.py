"""2D pictures with matplotlib: per-layer temperature maps, transients, Pareto plots, placements.

Figures are built with :class:`matplotlib.figure.Figure` and the Agg canvas directly, never through
``pyplot``: no global figure registry, no backend switch, nothing left open after a call.
matplotlib is imported inside the functions, so importing codesign stays light. Every function
writes one file (PNG, or any format matplotlib knows from the suffix) and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..thermal import ThermalReport

__all__ = ["layer_maps", "pareto_front", "plot_layer_maps", "plot_pareto", "plot_placement", "plot_transient"]

KELVIN = 273.15
#: Colour map of every temperature picture (the same as :data:`codesign.viz.render.CMAP`).
CMAP = "turbo"


def _figure(width: float, height: float, dpi: int, *, layout: str | None = "constrained"):
    """An Agg figure; ``layout=None`` for pictures that place their axes themselves (the constrained
    layout measures every tick label and title before the real drawing: about half of a picture's
    time)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _fixed_grid(fig, nrows: int, ncols: int, *, left: float, right: float, bottom: float, top: float,
                wgap: float, hgap: float, width: float | None = None):
    """A GridSpec with margins and gaps in inches: ``left``/``bottom`` before the first column/row (tick
    labels and axis label), ``right`` after the last column within ``width`` (default: the figure's
    width), ``top`` above the first row (titles), ``wgap``/``hgap`` between panels."""
    fw, fh = fig.get_size_inches()
    width = fw if width is None else width
    axw = (width - left - right - (ncols - 1) * wgap) / ncols
    axh = (fh - bottom - top - (nrows - 1) * hgap) / nrows
    return fig.add_gridspec(nrows, ncols, left=left / fw, right=(width - right) / fw, bottom=bottom / fh,
                            top=1.0 - top / fh, wspace=wgap / axw, hspace=hgap / axh)


#: zlib level of the PNG pictures: 1 instead of Pillow's 6 writes a report's pictures in ~0.2 s less (the
#: demo's layer maps 0.57 -> 0.44 s) for files ~20 % larger (420 -> 515 kB); the pixels are the same.
PNG_COMPRESS_LEVEL = 1


def savefig(fig, path) -> None:
    """``fig.savefig(path)`` on a white background; a PNG at :data:`PNG_COMPRESS_LEVEL`."""
    png = Path(path).suffix.lower() == ".png"
    fig.savefig(path, facecolor="white", **({"pil_kwargs": {"compress_level": PNG_COMPRESS_LEVEL}} if png else {}))


def save_image(image, path) -> None:
    """An RGB(A) pixel array to ``path`` (format from the suffix); a PNG at :data:`PNG_COMPRESS_LEVEL`."""
    from PIL import Image

    png = Path(path).suffix.lower() == ".png"
    Image.fromarray(image).save(path, **({"compress_level": PNG_COMPRESS_LEVEL} if png else {}))


def _save(fig, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    savefig(fig, path)
    return path


def layer_maps(report: "ThermalReport") -> list[dict]:
    """Per-layer maps of the largest temperature through each layer's thickness.

    Returns one dict per layer, top layer first: ``name``, ``thickness`` [m], ``x``, ``y`` (node
    coordinates [m]), ``temperature`` (nodal, shape ``(len(x), len(y))``, [K], NaN outside the
    layer's extent when that is air), ``max`` [K].
    """
    model = report.model
    g = model.grid
    t = np.asarray(report.temperature, dtype=float)
    out = []
    for layer in model.stack.layers:
        zb, zt = model.layer_z[layer.name]
        k = (g.z >= zb - 1e-12) & (g.z <= zt + 1e-12)
        tmax = t[:, :, k].max(axis=2)
        ext = layer.extent
        if layer.surround == "air":
            inside = ((g.x[:, None] >= ext.x - 1e-12) & (g.x[:, None] <= ext.x1 + 1e-12)
                      & (g.y[None, :] >= ext.y - 1e-12) & (g.y[None, :] <= ext.y1 + 1e-12))
            tmax = np.where(inside, tmax, np.nan)
        out.append({"name": layer.name, "thickness": layer.thickness, "x": g.x, "y": g.y, "temperature": tmax,
                    "max": float(np.nanmax(tmax))})
    return out


def _grid_shape(n: int) -> tuple[int, int]:
    """Columns and rows for ``n`` map panels plus the key panel: the fewest empty slots (the key
    panel spans what is left of the last row, so no slot stays empty), 4 columns preferred."""
    best = None
    for ncols in (4, 3, 5, 2):
        total = n + 1
        nrows = -(-total // ncols)
        empty = nrows * ncols - total
        score = (empty, abs(ncols - 4))
        if best is None or score < best[0]:
            best = (score, ncols, nrows)
    return best[1], best[2]


def _fits(text: str, size: float, rect, ax_w_in: float, package_w: float, ax_h_in: float, package_h: float) -> bool:
    """Whether ``text`` at ``size`` points fits inside ``rect`` drawn on an axis of the given size."""
    lines = text.split("\n")
    w_pt = 0.6 * size * max(len(s) for s in lines) + 4
    h_pt = 1.3 * size * len(lines) + 4
    return (w_pt <= 72 * ax_w_in * rect.width / package_w) and (h_pt <= 0.9 * 72 * ax_h_in * rect.height / package_h)


def plot_layer_maps(report: "ThermalReport", path, *, layers: Sequence[str] | None = None,
                    shared_scale: bool = True, ncols: int | None = None, dpi: int = 110) -> Path:
    """Per-layer 2D temperature maps with chiplet outlines, names and power blocks; writes ``path``.

    Each panel shows the largest temperature through the thickness of one layer (top layer first),
    in degC, with the layer's own chiplets outlined in black and named with their junction
    temperature, their power blocks hatched, the chiplets of other layers dashed in grey, and each
    die's hotspot marked with ``x``. A name that does not fit its die at a legible size is replaced
    by a number; the last panel is the key: every chiplet with its number, layer, power and
    junction temperature (it spans the rest of the last row, so the grid has no empty panels).

    Parameters
    ----------
    report : ThermalReport
    path : str or path-like
        Output file; the format follows the suffix (``.png``).
    layers : sequence of str, optional
        Layer names to draw (default: all).
    shared_scale : bool
        One colour scale for every panel (default), or one per panel to show detail in cool layers.
    ncols : int, optional
        Panels per row (default: chosen so that the key fills the last row, 4 preferred).
    dpi : int
        Resolution of the picture.
    """
    from matplotlib.patches import Rectangle

    maps = layer_maps(report)
    if layers is not None:
        unknown = sorted(set(layers) - {m["name"] for m in maps})
        if unknown:
            raise ValueError(f"`plot_layer_maps(layers=...)`: unknown layers {unknown}; "
                             f"layers are {[m['name'] for m in maps]}")
        maps = [m for m in maps if m["name"] in layers]
    stack = report.model.stack
    n = len(maps)
    if ncols is None:
        ncols, nrows = _grid_shape(n)
    else:
        nrows = -(-(n + 1) // ncols)
    w_mm, h_mm = stack.package.width * 1e3, stack.package.height * 1e3
    panel_w = 3.6
    panel_h = panel_w * h_mm / w_mm + 0.6
    # One colour scale (the report's picture): fixed margins (inches) instead of the constrained layout,
    # which measures every label before drawing (about half the time): tick and axis labels left of and
    # below each panel, its title above, the suptitle on top, the colour bar in the last inch. A scale
    # per panel (a colour bar beside each) keeps the constrained layout.
    fig = _figure(panel_w * ncols + (1.0 if shared_scale else 0.0), panel_h * nrows + 0.5, dpi,
                  layout=None if shared_scale else "constrained")
    left, bottom, top = 0.55, 0.45, 0.8  # margins [in] of the fixed grid (one colour scale)
    if shared_scale:
        gs = _fixed_grid(fig, nrows, ncols, left=left, right=0.1, bottom=bottom, top=top, wgap=0.65, hgap=0.75,
                         width=panel_w * ncols)
    else:
        gs = fig.add_gridspec(nrows, ncols)
    axes = [fig.add_subplot(gs[i // ncols, i % ncols]) for i in range(n)]
    key_ax = fig.add_subplot(gs[n // ncols, n % ncols:])
    fw, fh = fig.get_size_inches()
    if shared_scale:  # the key has no ticks or title: it takes its whole cell, a panel's margins included
        box = key_ax.get_position()
        key_ax.set_position((box.x0 - 0.45 / fw, box.y0 - 0.35 / fh, box.width + 0.45 / fw, box.height + 0.6 / fh))
    t_all = np.asarray(report.temperature, dtype=float) - KELVIN
    vmin, vmax = float(t_all.min()), float(t_all.max())
    hot = {c.name: c for c in report.chiplets}
    number = {c.name: i + 1 for i, c in enumerate(stack.chiplets)}
    numbered: set[str] = set()
    ax_w_in = 0.8 * panel_w  # the drawing area of a panel, without its tick labels
    ax_h_in = ax_w_in * h_mm / w_mm
    image = None
    for ax, m in zip(axes, maps):
        temp_c = m["temperature"] - KELVIN
        lo, hi = (vmin, vmax) if shared_scale else (float(np.nanmin(temp_c)), float(np.nanmax(temp_c)))
        image = ax.pcolormesh(m["x"] * 1e3, m["y"] * 1e3, temp_c.T, cmap=CMAP, vmin=lo, vmax=hi, shading="gouraud")
        if not shared_scale:
            fig.colorbar(image, ax=ax, shrink=0.85, label="°C")
        layer = stack.layer(m["name"])
        for other in stack.layers:
            for c in other.chiplets:
                r = c.rect
                mine = other.name == layer.name or layer.name in c.spans  # a die spanning layers: in each
                ax.add_patch(Rectangle((r.x * 1e3, r.y * 1e3), r.width * 1e3, r.height * 1e3, fill=False,
                                       lw=1.4 if mine else 0.8, ls="-" if mine else "--",
                                       ec="black" if mine else "0.35"))
                if not mine:
                    continue
                for b in c.power_blocks:  # where the die's power blocks sit, hatched
                    br = b.rect
                    ax.add_patch(Rectangle((br.x * 1e3, br.y * 1e3), br.width * 1e3, br.height * 1e3, fill=False,
                                           lw=0.6, ec="white", hatch="//", alpha=0.6))
                ct = hot.get(c.name)
                label = c.name if ct is None else f"{c.name}\n{ct.junction - KELVIN:.1f} °C"
                size = next((sz for sz in (7.5, 7.0, 6.5, 6.0)
                             if _fits(label, sz, r, ax_w_in, stack.package.width, ax_h_in, stack.package.height)),
                            None)
                if size is None:  # the name does not fit the die: its number, and the key says which
                    label, size = str(number[c.name]), 7.0
                    numbered.add(c.name)
                # Label at the die's lower edge, clear of a central hotspot marker.
                ax.text(r.centre[0] * 1e3, (r.y + 0.06 * r.height) * 1e3, label, ha="center", va="bottom",
                        fontsize=size, clip_on=True,
                        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="none", alpha=0.75))
                if ct is not None:
                    ax.plot(ct.hotspot[0] * 1e3, ct.hotspot[1] * 1e3, marker="x", ms=7, mew=2, color="white")
                    ax.plot(ct.hotspot[0] * 1e3, ct.hotspot[1] * 1e3, marker="x", ms=5, mew=1, color="black")
        e = layer.extent
        ax.add_patch(Rectangle((e.x * 1e3, e.y * 1e3), e.width * 1e3, e.height * 1e3, fill=False, lw=0.8, ls=":",
                               ec="0.2"))
        t_um = m["thickness"] * 1e6
        thick = f"{t_um:.0f} um" if t_um < 1000 else f"{t_um / 1e3:.3g} mm"
        ax.set_title(f"{m['name']} ({thick}): max {m['max'] - KELVIN:.1f} °C", fontsize=9)
        ax.set_aspect("equal")
        ax.set_xlim(stack.package.x * 1e3, stack.package.x1 * 1e3)
        ax.set_ylim(stack.package.y * 1e3, stack.package.y1 * 1e3)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("x [mm]", fontsize=8)
        ax.set_ylabel("y [mm]", fontsize=8)
    _key_panel(key_ax, report, number, numbered, height_in=panel_h - 0.6)
    if shared_scale and image is not None:
        grid_h = fh - bottom - top
        cax = fig.add_axes(((panel_w * ncols + 0.1) / fw, (bottom + 0.05 * grid_h) / fh, 0.2 / fw, 0.9 * grid_h / fh))
        fig.colorbar(image, cax=cax, label="Temperature [°C] (max through each layer)")
    fig.suptitle(f"{stack.name}: {report.power_in:.0f} W, max {report.max_temperature - KELVIN:.1f} °C"
                 + (f" in {report.hottest.name}" if report.chiplets else ""), fontsize=11)
    return _save(fig, path)


def _key_panel(ax, report, number: dict, numbered: set, *, height_in: float) -> None:
    """The key of the layer maps: each chiplet with its number (# where a map shows only the number)."""
    ax.set_axis_off()
    stack = report.model.stack
    hot = {c.name: c for c in report.chiplets}
    lines = []
    # Dies shown by number first (the key is what names them), then the others.
    for c in sorted(stack.chiplets, key=lambda c: (c.name not in numbered, number[c.name])):
        ct = hot.get(c.name)
        tj = "" if ct is None else f"{ct.junction - KELVIN:6.1f} °C"
        power = c.total_power if ct is None else ct.power
        blocks = f", {len(c.power_blocks)} block{'s' if len(c.power_blocks) != 1 else ''}" if c.power_blocks else ""
        mark = "#" if c.name in numbered else " "
        lines.append(f"{mark}{number[c.name]:>2} {c.name[:18]:<18} {stack.layer_of(c.name).name[:10]:<10} "
                     f"{power:7.1f} W{tj}{blocks}")
    head = "   chiplet            layer        power     Tj"
    rows_fit = max(4, int(0.8 * 72 * height_in / (6.5 * 1.25)) - 2)
    if len(lines) > rows_fit:  # many dies: number, name and Tj only, in columns, numbered dies first
        order = sorted(stack.chiplets, key=lambda c: (c.name not in numbered, number[c.name]))
        short = [f"{'#' if c.name in numbered else ' '}{number[c.name]:>2} {c.name[:11]:<11}"
                 + (f"{hot[c.name].junction - KELVIN:5.1f}" if c.name in hot else "     ") for c in order]
        ncols = min(3, -(-len(short) // rows_fit))
        per = min(-(-len(short) // ncols), rows_fit)
        left = len(short) - per * ncols
        cols = [short[i * per:(i + 1) * per] for i in range(ncols)]
        lines = [" ".join(col[r] if r < len(col) else "" for col in cols).rstrip() for r in range(per)]
        head = " ".join(["   chiplet     Tj °C"] * ncols)
        if left > 0:
            lines.append(f"    ... {left} more in the report's tables")
        size = 6.0
    else:
        size = 6.5
    shown = lines[:rows_fit + 1]
    ax.text(0.0, 1.0, "Key. #: shown by its number on the map; hatched: power blocks;\n"
            "dashed: dies of other layers; x: hotspot", transform=ax.transAxes, fontsize=7, va="top", ha="left")
    ax.text(0.0, 0.9, "\n".join([head] + shown), transform=ax.transAxes, fontsize=size, va="top", ha="left",
            family="monospace")


def plot_transient(times, chiplet_temperatures: Mapping[str, np.ndarray], path, *,
                   tj_max: Mapping[str, float] | None = None, log_time: bool | None = None,
                   title: str | None = None, dpi: int = 110) -> Path:
    """Temperature against time, one line per chiplet; writes ``path``.

    Parameters
    ----------
    times : array_like
        Times [s], shape ``(n,)``.
    chiplet_temperatures : mapping
        Chiplet name -> temperatures [K], shape ``(n,)``.
    path : str or path-like
    tj_max : mapping, optional
        Chiplet name -> junction limit [K], drawn dashed in the chiplet's colour.
    log_time : bool, optional
        Logarithmic time axis; default: when the positive times span more than two decades.
    title : str, optional
    """
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"`plot_transient(times=...)` should be a 1-D array of at least 2 times; got shape {t.shape}")
    if not chiplet_temperatures:
        raise ValueError("`plot_transient(chiplet_temperatures=...)` is empty; pass {chiplet name: temperatures [K]}")
    for name, v in chiplet_temperatures.items():
        if np.shape(v) != t.shape:
            raise ValueError(f"`plot_transient`: chiplet {name!r} has {np.shape(v)} temperatures for {t.shape} times")
    positive = t[t > 0]
    if log_time is None:
        log_time = positive.size >= 2 and positive.max() / positive.min() > 100
    fig = _figure(7.5, 4.5, dpi)
    ax = fig.subplots()
    order = sorted(chiplet_temperatures, key=lambda k: -float(np.max(chiplet_temperatures[k])))
    for i, name in enumerate(order):
        colour = f"C{i % 10}"
        v = np.asarray(chiplet_temperatures[name], dtype=float) - KELVIN
        mask = t > 0 if log_time else slice(None)
        ax.plot(t[mask], v[mask], color=colour, lw=1.8, label=f"{name} (max {v.max():.1f} °C)")
        if tj_max and name in tj_max and tj_max[name]:
            ax.axhline(tj_max[name] - KELVIN, color=colour, ls="--", lw=1.0, alpha=0.8)
            ax.annotate(f"{name} Tj,max", (1.0, tj_max[name] - KELVIN), xycoords=("axes fraction", "data"),
                        ha="right", va="bottom", fontsize=7, color=colour)
    if log_time:
        ax.set_xscale("log")
    ax.set_xlabel("time [s]")
    ax.set_ylabel("temperature [°C]")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title or "Chiplet temperatures against time", fontsize=11)
    return _save(fig, path)


def pareto_front(values: np.ndarray, sense: Sequence[str] = ("min", "min")) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values`` ``(n, 2)`` (``sense``: "min" or "max" per column)."""
    v = np.asarray(values, dtype=float).copy()
    for j, s in enumerate(sense):
        if s not in ("min", "max"):
            raise ValueError(f"`pareto_front(sense=...)`: each entry is 'min' or 'max', got {s!r}")
        if s == "max":
            v[:, j] = -v[:, j]
    finite = np.all(np.isfinite(v), axis=1)
    keep = finite.copy()
    for i in np.flatnonzero(finite):
        others = v[finite]
        dominated = np.any(np.all(others <= v[i], axis=1) & np.any(others < v[i], axis=1))
        keep[i] = not dominated
    return keep


def plot_pareto(points: Sequence[Mapping], x: str, y: str, path, *, labels: str | Sequence[str] | None = None,
                colour: str | None = None, sense: Sequence[str] = ("min", "min"), xlabel: str | None = None,
                ylabel: str | None = None, title: str | None = None, log_x: bool = False, log_y: bool = False,
                limits: Sequence[tuple[str, float, str]] = (), dpi: int = 110) -> Path:
    """Scatter of design points with their Pareto front drawn and labelled; writes ``path``.

    Parameters
    ----------
    points : sequence of dict
        One dict per design point (a sweep's or a partitioner's rows).
    x, y : str
        Keys of the two objectives.
    path : str or path-like
    labels : str or sequence of str, optional
        A key whose value names each point, or one label per point. Front points are labelled.
    colour : str, optional
        A key with a number to colour the points by (with a colour bar).
    sense : (str, str)
        ``"min"`` or ``"max"`` for x and y: which way is better.
    xlabel, ylabel, title : str, optional
    log_x, log_y : bool
        Logarithmic axes.
    limits : sequence of (axis, value, label)
        Limits drawn as dashed lines across the plot (``axis`` ``"x"`` or ``"y"``), e.g. a junction
        limit ``("y", 105.0, "Tj,max")`` for a temperature objective.
    """
    if not points:
        raise ValueError("`plot_pareto(points=...)` is empty; pass a list of dicts, one per design point")
    missing = [k for k in (x, y) + ((colour,) if colour else ()) if any(k not in p for p in points)]
    if missing:
        raise ValueError(f"`plot_pareto`: key(s) {sorted(set(missing))} missing from some points; "
                         f"keys of the first point: {sorted(points[0])}")
    xy = np.array([[float(p[x]), float(p[y])] for p in points])
    if isinstance(labels, str):
        names = [str(p.get(labels, "")) for p in points]
    elif labels is None:
        names = [""] * len(points)
    else:
        names = [str(s) for s in labels]
        if len(names) != len(points):
            raise ValueError(f"`plot_pareto(labels=...)` has {len(names)} labels for {len(points)} points")
    front = pareto_front(xy, sense)
    fig = _figure(7.0, 5.0, dpi)
    ax = fig.subplots()
    if colour:
        c = np.array([float(p[colour]) for p in points])
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap="viridis", s=28, alpha=0.85, edgecolors="none")
        fig.colorbar(sc, ax=ax, label=colour)
    else:
        ax.scatter(xy[~front, 0], xy[~front, 1], s=24, color="0.55", alpha=0.8, label="design points")
    f = xy[front]
    f = f[np.argsort(f[:, 0])]
    ax.plot(f[:, 0], f[:, 1], "-o", color="#b00000", ms=6, mfc="none", mew=1.6, lw=1.5,
            label=f"Pareto front ({int(front.sum())} of {len(points)})")
    for k, i in enumerate(np.flatnonzero(front)):
        if names[i]:  # alternate above / below the front so that neighbours do not overlap
            ax.annotate(names[i], xy[i], xytext=(5, 6 if k % 2 == 0 else -12), textcoords="offset points",
                        fontsize=7, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.7))
    ax.margins(x=0.12, y=0.08)  # room for the labels of the front's end points
    for axis, value, text in limits:
        if axis not in ("x", "y"):
            raise ValueError(f"`plot_pareto(limits=...)`: axis is 'x' or 'y', got {axis!r}")
        line = ax.axhline if axis == "y" else ax.axvline
        line(value, color="#b00000", ls="--", lw=1.2, label=f"{text} = {value:.4g}")
    if log_x:
        ax.set_xscale("log")
    if log_y:
        ax.set_yscale("log")
    arrow = {"min": "lower is better", "max": "higher is better"}
    ax.set_xlabel(f"{xlabel or x} ({arrow[sense[0]]})")
    ax.set_ylabel(f"{ylabel or y} ({arrow[sense[1]]})")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if title:
        ax.set_title(title, fontsize=11)
    return _save(fig, path)


def plot_placement(result, path, *, dpi: int = 110) -> Path:
    """Die outlines of the moved layer before and after a placement optimisation; writes ``path``.

    Each die is drawn at its position and named with its junction temperature; powered dies are
    orange, unpowered ones blue, and the layer's extent is dashed.

    Parameters
    ----------
    result : codesign.explore.placement.PlacementResult
        What :func:`codesign.explore.placement.optimize_placement` returns.
    path : str or path-like
    dpi : int
        Resolution of the picture.
    """
    from matplotlib.patches import Rectangle

    fig = _figure(10.0, 4.5, dpi)
    axes = fig.subplots(1, 2)
    for ax, stack, res, title in ((axes[0], result.stack_before, result.before, "before"),
                                  (axes[1], result.stack_after, result.after, "after")):
        layer = stack.layer_of(result.names[0])
        e = layer.extent
        ax.add_patch(Rectangle((e.x * 1e3, e.y * 1e3), e.width * 1e3, e.height * 1e3, fill=False, ls="--",
                               color="0.4"))
        for c in layer.chiplets:
            r = c.rect
            ax.add_patch(Rectangle((r.x * 1e3, r.y * 1e3), r.width * 1e3, r.height * 1e3, alpha=0.5,
                                   color="#c04000" if c.total_power > 0 else "#4060a0"))
            ax.text(r.centre[0] * 1e3, r.centre[1] * 1e3, f"{c.name}\n{res['tj_C'][c.name]:.1f} °C",
                    ha="center", va="center", fontsize=8)
        ax.set_xlim(stack.package.x * 1e3, stack.package.x1 * 1e3)
        ax.set_ylim(stack.package.y * 1e3, stack.package.y1 * 1e3)
        ax.set_aspect("equal")
        ax.set_xlabel("x [mm]")
        ax.set_ylabel("y [mm]")
        ax.set_title(f"{title}: peak {res['peak_C']:.1f} °C, wirelength {res['wirelength_mm']:.1f} mm", fontsize=10)
    return _save(fig, path)
