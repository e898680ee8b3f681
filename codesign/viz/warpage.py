"""Warpage pictures (matplotlib, Agg canvas, headless): 2D contour maps of the package bottom per
state and a 3D view of the deformed bottom with its exaggeration factor.

Both take a :class:`codesign.warpage.WarpageReport`, write one file and return its path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .plots import _figure, savefig

__all__ = ["exaggeration", "plot_warpage_3d", "plot_warpage_maps"]

#: Diverging colour map: blue below the best-fit plane, red above.
CMAP = "RdBu_r"


def _write(fig, path, outputs):
    if outputs is None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        savefig(fig, path)
        return path
    outputs.write(path, lambda tmp: savefig(fig, tmp))
    return Path(path)


def _outline(ax, model, lw=0.8):
    from matplotlib.patches import Rectangle

    for c in model.stack.chiplets:
        r = c.rect
        ax.add_patch(Rectangle((r.x * 1e3, r.y * 1e3), r.width * 1e3, r.height * 1e3, fill=False, lw=lw,
                               ec="black"))


def plot_warpage_maps(report, path, *, dpi: int = 110, outputs=None) -> Path:
    """One panel per state: bottom-face ``u_z`` minus the best-fit plane [um], chiplets outlined.

    The title of each panel gives the signed warpage and its shape (+ cry / convex, - smile / concave).
    """
    cases = list(report.cases.values())
    model = report.model
    g = model.grid
    n = len(cases)
    # Fixed places (inches) instead of the constrained layout, which measures every label before drawing
    # (about half the time): per state a cell 4.6 wide, the map (equal aspect) with tick and axis labels
    # left of and below it and its two-line title above, its colour bar right of it; the suptitle on top.
    fig = _figure(4.6 * n, 4.2, dpi, layout=None)
    pkg = model.stack.package
    box_w, box_h = 4.6 - 0.7 - 1.05, 4.2 - 0.55 - 0.85
    aspect = pkg.width / pkg.height
    w, h = (box_w, box_w / aspect) if aspect > box_w / box_h else (box_h * aspect, box_h)
    y0 = 0.55 + 0.5 * (box_h - h)
    bar_h = min(0.8 * box_h, 4.2 - 0.95)
    axes, bars = [], []
    for i in range(n):
        x0 = 4.6 * i + 0.7 + 0.5 * (box_w - w)
        axes.append(fig.add_axes((x0 / (4.6 * n), y0 / 4.2, w / (4.6 * n), h / 4.2)))
        bars.append(fig.add_axes(((x0 + w + 0.15) / (4.6 * n), (y0 + 0.5 * h - 0.5 * bar_h) / 4.2, 0.16 / (4.6 * n),
                                  bar_h / 4.2)))
    for ax, cax, c in zip(axes, bars, cases):
        m = np.asarray(c.map) * 1e6
        lim = float(np.nanmax(np.abs(m))) or 1.0
        im = ax.pcolormesh(g.x * 1e3, g.y * 1e3, np.ma.masked_invalid(m.T), cmap=CMAP, vmin=-lim, vmax=lim,
                           shading="gouraud")
        _outline(ax, model)
        ax.set_aspect("equal")
        ax.set_xlabel("x [mm]")
        ax.set_ylabel("y [mm]")
        ax.set_title(f"{c.name}: {c.warpage * 1e6:+.0f} um, {c.shape}\n{c.temperature}", fontsize=9)
        fig.colorbar(im, cax=cax, label="u_z - best-fit plane [um]")
    fig.suptitle(f"{model.stack.name}: warpage of the package bottom (ball side), viewed from the lid side",
                 fontsize=10)
    return _write(fig, path, outputs)


def exaggeration(report, case: str | None = None, *, fraction: float = 0.1) -> float:
    """The factor that makes the state's coplanarity ``fraction`` of the package's larger side."""
    c = report.cases[case] if case else max(report.cases.values(), key=lambda c: c.coplanarity)
    pkg = report.model.stack.package
    return float(fraction * max(pkg.width, pkg.height) / max(c.coplanarity, 1e-12))


def plot_warpage_3d(report, path, *, case: str | None = None, dpi: int = 110, outputs=None) -> tuple[Path, float]:
    """3D view of the deformed package bottom (displacement exaggerated); returns ``(path, factor)``.

    ``case`` defaults to the state with the largest coplanarity. The exaggeration factor is in the
    picture's title; put it in the caption too.
    """
    c = report.cases[case] if case else max(report.cases.values(), key=lambda c: c.coplanarity)
    model = report.model
    g = model.grid
    factor = exaggeration(report, c.name)
    m = np.asarray(c.map)
    X, Y = np.meshgrid(g.x * 1e3, g.y * 1e3, indexing="ij")
    Z = np.where(np.isfinite(m), m, np.nan) * factor * 1e3
    fig = _figure(6.4, 5.0, dpi)
    ax = fig.add_subplot(projection="3d")
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    lim = float(np.nanmax(np.abs(m))) or 1.0
    colours = colormaps[CMAP](Normalize(-lim, lim)(np.nan_to_num(m)))
    ax.plot_surface(X, Y, Z, facecolors=colours, rstride=max(1, X.shape[0] // 60), cstride=max(1, X.shape[1] // 60),
                    linewidth=0, antialiased=False, shade=False)
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("y [mm]")
    ax.set_zlabel(f"u_z x {factor:.0f} [mm]")
    ax.set_box_aspect((model.stack.package.width, model.stack.package.height,
                       0.25 * max(model.stack.package.width, model.stack.package.height)))
    ax.set_title(f"{model.stack.name}, {c.name}: {c.warpage * 1e6:+.0f} um ({c.shape}); displacement "
                 f"exaggerated x{factor:.0f}", fontsize=9)
    return _write(fig, path, outputs), factor


# -- the report's warpage section (codesign.viz.report.add_section) ----------------------------------
def _section_warpage(ctx) -> str | None:
    """HTML of the "Warpage" section: states, limits, bump strain, stresses, process history, pictures."""
    import html

    from .report import html_table

    wr = getattr(ctx.run, "warpage", None)
    if wr is None:
        return None
    rows = []
    for c in wr.cases.values():
        cb = c.corner_bump
        rows.append({"state": c.name, "temperature": c.temperature, "warpage [µm]": round(c.warpage * 1e6, 1),
                     "shape": c.shape, "limit [µm]": None if c.limit is None else round(c.limit * 1e6),
                     "within limit": "-" if c.ok is None else ("yes" if c.ok else "NO"),
                     "corner bump shear strain": None if cb is None else cb[1]["shear_strain"],
                     "bump layer, DNP [mm]": "-" if cb is None else f"{cb[0]}, {cb[1]['dnp'] * 1e3:.1f}",
                     "CG iterations": int(np.asarray(c.solution.iterations))})
        if c.error is not None:  # analyse_warpage(accuracy=True): the discretisation-error estimate
            rows[-1]["± [µm]"] = f"{c.error.error * 1e6:.2g}" + c.error.flag
    parts = [html_table(rows),
             "<p>Warpage: coplanarity of the package bottom (ball side) after removing the best-fit plane; "
             "+ cry (convex: the centre above the corners with the lid up), − smile (concave). Limits: "
             f"{html.escape(wr.spec.limit_source)}.</p>"]
    for f in wr.flags:
        parts.append(f"<p class=\"note\">{html.escape(f)}</p>")
    board = wr.spec.board if wr.spec.support == "board" else None
    if board is not None:
        parts.append(f"<p>On its board: {board.thickness * 1e3:.3g} mm {html.escape(board.material)}, BGA of "
                     f"{html.escape(board.ball_material)} balls {board.ball_diameter * 1e3:.3g} mm at "
                     f"{board.ball_pitch * 1e3:.3g} mm pitch, {board.ball_height * 1e3:.3g} mm high in "
                     f"{html.escape(board.fill)}, stress-free at {board.stress_free_temperature - 273.15:.0f} °C; the "
                     "reflow state is the package alone (the solder is molten).</p>")
        parts.append(html_table([{"state": c.name, "board bow [µm]": None if c.board_warpage is None
                                  else round(c.board_warpage * 1e6, 1),
                                  "critical BGA ball shear strain": c.bump_strain.get("bga_joints", {}).get("shear_strain"),
                                  "DNP [mm]": None if "bga_joints" not in c.bump_strain
                                  else round(c.bump_strain["bga_joints"]["dnp"] * 1e3, 1)}
                                 for c in wr.cases.values()]))
    if wr.fatigue:
        from ..warpage import FATIGUE_LABEL

        parts.append(f"<p>Solder-joint fatigue indicator: {html.escape(FATIGUE_LABEL)}.</p>")
        parts.append(html_table([{"joints": k, "shear strain range": v["range"],
                                  "mean temperature [°C]": round(v["mean_temperature"] - 273.15, 1),
                                  "DNP [mm]": round(v["dnp"] * 1e3, 1), "cycles per day": v["cycles_per_day"],
                                  "cycles to failure (indicator)": None if not np.isfinite(v["cycles"])
                                  else float(f"{v['cycles']:.3g}")}
                                 for k, v in wr.fatigue.items()]))
    names = list(wr.cases)
    stress = [{"part": f"die {n}", **{f"{k} [MPa]": wr.cases[k].chiplet_stress[n] / 1e6 for k in names}}
              for n in next(iter(wr.cases.values())).chiplet_stress]
    stress += [{"part": f"layer {n}", **{f"{k} [MPa]": wr.cases[k].layer_stress.get(n, float("nan")) / 1e6
                                         for k in names}}
               for n in next(iter(wr.cases.values())).layer_stress]
    parts += ["<p>Peak von Mises stress (element centres):</p>", html_table(stress)]
    steps = [{"step": s.name, "stress-free [°C]": round(s.temperature - 273.15, 1), "layers": ", ".join(s.layers),
              "source": s.source or "layout"} for s in wr.steps]
    parts += [f"<p>Process history{' (defaults, estimates: give [warpage.steps] in the layout)' if wr.defaults_used else ''}"
              ":</p>", html_table(steps)]
    for n in wr.notes:
        parts.append(f"<p class=\"meta\">{html.escape(n)}</p>")
    name = ctx.run.stack.name
    maps = ctx.folder / "warpage_maps.png"
    plot_warpage_maps(wr, maps, outputs=ctx.outputs)
    view, factor = plot_warpage_3d(wr, ctx.folder / "warpage_3d.png", outputs=ctx.outputs)
    worst = max(wr.cases.values(), key=lambda c: c.coplanarity)
    for f, cap in ((maps.name, "Warpage maps of the package bottom per state (u_z minus the best-fit plane, µm), "
                               "chiplets outlined."),
                   (view.name, f"{name}, {worst.name}: the deformed package bottom in 3D, displacement exaggerated "
                               f"×{factor:.0f}.")):
        parts.append(f"<figure><img src=\"{html.escape(f)}\" alt=\"{html.escape(cap)}\">"
                     f"<figcaption>{html.escape(cap)}</figcaption></figure>")
    ctx.files += [(maps.name, "warpage maps (PNG)"), (view.name, f"deformed package bottom, ×{factor:.0f} (PNG)")]
    return "\n".join(parts)


def _register() -> None:
    from .report import add_section

    add_section("Warpage", _section_warpage)


_register()
