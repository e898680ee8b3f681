"""The report a user opens: one folder with pictures, JSON, VTU and a static ``index.html``.

:func:`write_report` takes the whole run (:class:`codesign.pipeline.LayoutRun`) and builds every
table itself, so ``codesign report`` and a design script get the same page.

The HTML page needs no server and fetches nothing: CSS is inline, there is no script, and images
and data files are linked by relative paths, so the folder can be zipped, mailed or archived.
"""

from __future__ import annotations

import html
import json
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import LayoutRun
    from ..thermal import ThermalReport

__all__ = ["html_table", "run_tables", "write_report"]

KELVIN = 273.15

FILES = {
    "hotspots": "hotspots.png",
    "exploded": "hotspots_exploded.png",
    "layers": "layer_maps.png",
    "json": "run.json",
    "vtu": "temperature.vtu",
}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1a1a1a; padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d0d0; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.bad td { background: #fde2e2; }
tr.hot td:first-child { font-weight: bold; }
.summary { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 0.6em 1em; min-width: 10em; }
.card b { display: block; font-size: 1.4em; }
.card.bad { border-color: #c00; background: #fff4f4; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: 0.9em; }
.note { color: #a00; }
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3e}"
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def html_table(rows: Sequence[Mapping[str, Any]], *, columns: Sequence[str] | None = None,
               row_class: Sequence[str] | None = None) -> str:
    """An HTML table from row dicts (columns: the union of keys, in first-seen order); values escaped."""
    if not rows:
        return "<p><i>(no rows)</i></p>"
    if columns is None:
        columns = []
        for r in rows:
            for k in r:
                if k not in columns:
                    columns.append(k)
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in columns) + "</tr>"]
    for i, r in enumerate(rows):
        cls = f' class="{html.escape(row_class[i])}"' if row_class and row_class[i] else ""
        cells = []
        for c in columns:
            v = r.get(c)
            num = ' class="num"' if _is_num(v) else ""
            cells.append(f"<td{num}>{html.escape(_fmt(v))}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _chiplet_rows(report: "ThermalReport") -> tuple[list[dict], list[str]]:
    rows, classes = [], []
    hottest = report.hottest.name if report.chiplets else None
    for c in sorted(report.chiplets, key=lambda c: -c.junction):
        rows.append({
            "chiplet": c.name, "kind": c.kind, "layer": c.layer, "power [W]": c.power,
            "Tj [°C]": c.junction - KELVIN, "Tmean [°C]": c.mean - KELVIN,
            "Tj,max [°C]": None if c.tj_max is None else c.tj_max - KELVIN,
            "margin [K]": c.margin,
            "hotspot x, y, z [mm]": ", ".join(f"{v * 1e3:.2f}" for v in c.hotspot),
        })
        classes.append("bad" if c.margin is not None and c.margin < 0 else ("hot" if c.name == hottest else ""))
    return rows, classes


def _layer_rows(report: "ThermalReport") -> list[dict]:
    model = report.model
    t = np.asarray(report.temperature, dtype=float)
    g = model.grid
    rows = []
    for layer in model.stack.layers:
        zb, zt = model.layer_z[layer.name]
        k = (g.z >= zb - 1e-12) & (g.z <= zt + 1e-12)
        rows.append({
            "layer": layer.name, "material": layer.material, "thickness [um]": layer.thickness * 1e6,
            "z bottom-top [mm]": f"{zb * 1e3:.3f} - {zt * 1e3:.3f}",
            "extent [mm]": f"{layer.extent.width * 1e3:.3g} x {layer.extent.height * 1e3:.3g}",
            "interconnect": (f"{layer.interconnect.kind}, pitch {layer.interconnect.pitch * 1e6:.3g} um"
                             if layer.interconnect else "-"),
            "chiplets": ", ".join(c.name for c in layer.chiplets) or "-",
            "T max [°C]": float(t[:, :, k].max()) - KELVIN,
        })
    return rows


def _energy_rows(report: "ThermalReport") -> list[dict]:
    rows = [{"quantity": "power in [W]", "value": report.power_in}]
    for face, q in report.heat_out.items():
        rows.append({"quantity": f"heat out through {face} [W]", "value": q})
    rows.append({"quantity": "heat out, total [W]", "value": float(sum(report.heat_out.values()))})
    rows.append({"quantity": "relative residual |in - out| / in", "value": report.energy_residual})
    return rows


def run_tables(run: "LayoutRun") -> dict[str, list[dict]]:
    """The tables of a run beyond the thermal ones: links, leakage, derating and PPAC.

    Returns section title -> list of row dicts (:func:`html_table` rows); a section is present
    when the run computed it.
    """
    tables = {}
    if run.links is not None:
        rows = []
        for link in run.links.to_dict()["links"]:
            flags = [k.replace("_exceeded", "").replace("_", " ") for k in
                     ("reach_exceeded", "shoreline_exceeded", "bump_density_exceeded", "bandwidth_short") if link[k]]
            rows.append({"link": link["name"], "phy": link["phy"], "geometry": link["geometry"],
                         "bandwidth GB/s": link["bandwidth"] / 8e9, "utilisation %": 100 * link["utilisation"],
                         "pJ/bit": link["energy_per_bit"] * 1e12, "power W": link["power"],
                         "PHY area mm2": sum(link["phy_area"]) * 1e6, "shoreline mm": link["shoreline"] * 1e3,
                         "latency ns": link["latency"] * 1e9, "flags": ", ".join(flags) or "ok"})
        tables["Links"] = rows
    if run.coupled is not None:
        c = run.coupled
        tables["Leakage at the operating point"] = [
            {"chiplet": n, "dynamic W": c.dynamic.get(n, 0.0), "leakage W": c.leakage.get(n, 0.0),
             "leakage share %": 100 * c.leakage_share.get(n, 0.0)} for n in c.dynamic]
    if run.derating is not None:
        d = run.derating
        tables["Thermal derating"] = [{"dynamic power scale": d.scale, "clock factor": d.frequency_factor,
                                       "P-f model": d.pf_model, "limiting": d.limiting,
                                       "notes": "; ".join(d.notes)}]
    if run.ppac is not None:
        p = run.ppac.to_dict()
        pw, perf, area, cost = p["power_W"], p["performance"], p["area_m2"], p["cost"]
        tables["PPAC"] = [
            {"quantity": "power: total / dynamic / leakage [W]",
             "value": f"{pw['total']:.1f} / {pw['dynamic']:.1f} / {pw['leakage']:.1f}"},
            {"quantity": "power: interconnect / memory [W]", "value": f"{pw['interconnect']:.1f} / {pw['memory']:.1f}"},
            {"quantity": "performance: link bandwidth / HBM [TB/s]",
             "value": f"{perf['aggregate_bandwidth'] / 8e12:.2f} / {perf['hbm_bandwidth'] / 8e12:.2f}"},
            {"quantity": "performance: derating clock factor",
             "value": "-" if perf.get("frequency_factor") is None else f"{perf['frequency_factor']:.3f}"},
            {"quantity": "area: logic silicon / PHY / carrier / package [mm2]",
             "value": " / ".join(f"{area[k] * 1e6:.0f}" for k in ("logic_silicon", "phy", "carrier", "package"))},
            {"quantity": "cost per good package / NRE share / total [$]",
             "value": f"{cost['cost_per_good_package']:,.0f} / {cost['nre_per_unit']:,.0f} / {cost['total_per_unit']:,.0f}"},
            {"quantity": "package yield", "value": f"{cost['package_yield']:.3f}"},
            {"quantity": "technology", "value": p["technology"]["technology"]},
            {"quantity": "feasible", "value": "yes" if p["feasible"] else "no: " + "; ".join(p["infeasible"])},
        ] + [{"quantity": "note", "value": n} for n in p["notes"]]
    return tables


def write_report(run: "LayoutRun", out_dir, *, title: str | None = None, pictures_3d: bool = True,
                 outputs=None) -> Path:
    """Write a self-contained report folder for a run and return the path of its ``index.html``.

    The folder holds ``hotspots.png`` and ``hotspots_exploded.png`` (3D,
    :func:`codesign.viz.render.plot_hotspots`), ``layer_maps.png``
    (:func:`codesign.viz.plots.plot_layer_maps`), ``run.json`` (``run.to_dict()``: temperatures,
    links, leakage, derating, PPAC), ``temperature.vtu`` with its ``temperature.regions.json``
    sidecar (:func:`codesign.export_vtu`, for ParaView) and ``index.html`` with every table:
    chiplet temperatures, energy balance, solver, layers, and the links, leakage, derating and PPAC
    tables of :func:`run_tables` when the run has them.

    Parameters
    ----------
    run : LayoutRun
        What :func:`codesign.run_layout` returns.
    out_dir : str or path-like
        Created if missing; files of the same names are replaced.
    title : str, optional
        Page title (default: the layout's name).
    pictures_3d : bool
        Render the 3D pictures (needs OpenGL; when rendering fails the page says why and the rest
        of the report is still written).
    outputs : codesign._output.Outputs, optional
        Records the files written (with those of the rest of a job). Every file is written whole
        or not at all; a folder that cannot be created or written, or a full disk, raises
        :class:`codesign._output.OutputError` (an :class:`OSError`) naming the file and the files
        already kept.

    Examples
    --------
    >>> import codesign as cd
    >>> from codesign.viz import write_report
    >>> run = cd.run_layout(cd.load_layout("demo"))            # doctest: +SKIP
    >>> write_report(run, "out/demo_report")                   # doctest: +SKIP
    PosixPath('out/demo_report/index.html')
    """
    from .._output import OutputError, Outputs
    from ..mesh import export_vtu
    from . import plots

    outputs = Outputs() if outputs is None else outputs
    report = run.thermal
    out = outputs.folder(out_dir)
    stack = run.stack
    notes: list[str] = []

    pictures: list[tuple[str, str]] = []
    if pictures_3d:
        try:
            from .render import plot_hotspots

            for key, kw, caption in (
                    ("hotspots", {}, "Temperature in 3D, the corner in front of the hottest die cut away through its "
                                     "hotspot; flags give each chiplet's junction temperature and margin."),
                    ("exploded", {"exploded": True}, "The same with the layers pulled apart vertically.")):
                outputs.write(out / FILES[key],
                              lambda tmp: plot_hotspots(report, screenshot=tmp, off_screen=True, **kw).close())
                pictures.append((FILES[key], caption))
        except OutputError:  # the folder or the disk, not the rendering: the report cannot be written
            raise
        except Exception as exc:  # noqa: BLE001 - a missing OpenGL must not cost the rest of the report
            msg = f"3D pictures not rendered: {type(exc).__name__}: {exc}"
            warnings.warn(f"`write_report`: {msg}", RuntimeWarning, stacklevel=2)
            notes.append(msg)
    outputs.write(out / FILES["layers"], lambda tmp: plots.plot_layer_maps(report, tmp))
    pictures.append((FILES["layers"], "Largest temperature through the thickness of each layer (top layer first); "
                                      "the layer's own chiplets outlined and named, others dashed, hotspots marked x."))

    outputs.text(out / FILES["json"], json.dumps(run.to_dict(), indent=1, default=_json_default))
    sidecar = export_vtu(report.model, out / FILES["vtu"], temperature=report.temperature, outputs=outputs)

    worst = min((c for c in report.chiplets if c.margin is not None), key=lambda c: c.margin, default=None)
    cards = [("max temperature", f"{report.max_temperature - KELVIN:.1f} °C", False),
             ("hottest chiplet", report.hottest.name if report.chiplets else "-", False),
             ("power", f"{report.power_in:.1f} W", False)]
    if worst is not None:
        cards.append((f"smallest margin ({worst.name})", f"{worst.margin:+.1f} K", worst.margin < 0))
    cards.append(("energy balance", f"{report.energy_residual:.1e}", report.energy_residual > 1e-6))

    heading = title or stack.name
    body = [f"<h1>{html.escape(heading)}</h1>",
            f"<p class=\"meta\">{html.escape(stack.description)}<br>Layout: {html.escape(str(stack.source or '-'))}"
            f" &middot; written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f" &middot; mesh {html.escape(report.model.summary())}</p>",
            "<div class=\"summary\">"
            + "".join(f"<div class=\"card{' bad' if bad else ''}\">{html.escape(k)}<b>{html.escape(v)}</b></div>"
                      for k, v, bad in cards) + "</div>"]
    for n in notes:
        body.append(f"<p class=\"note\">{html.escape(n)}</p>")
    rows, classes = _chiplet_rows(report)
    body += ["<h2>Chiplet temperatures</h2>", html_table(rows, row_class=classes),
             "<p class=\"meta\">Tj: largest nodal temperature in the die; margin: Tj,max - Tj "
             "(negative rows are over their limit).</p>"]
    for name, caption in pictures:
        body.append(f"<figure><a href=\"{html.escape(name)}\"><img src=\"{html.escape(name)}\" "
                    f"alt=\"{html.escape(caption)}\"></a><figcaption>{html.escape(caption)}</figcaption></figure>")
    body += ["<h2>Energy balance</h2>", html_table(_energy_rows(report))]
    body += ["<h2>Solver</h2>", html_table([{"statistic": k, "value": v} for k, v in report.solver.items()])]
    body += ["<h2>Layers (top first)</h2>", html_table(_layer_rows(report))]
    for name, table in run_tables(run).items():
        body += [f"<h2>{html.escape(name)}</h2>", html_table(table)]
    files = [(FILES["json"], "the run (JSON: temperatures in °C, lengths in mm, powers in W; links, leakage, "
                             "derating and PPAC when computed)"),
             (FILES["vtu"], "mesh and temperature for ParaView (VTU)"),
             (sidecar.name, "region and material names of the VTU ids")]
    body += ["<h2>Files</h2>", "<ul>"] + [f"<li><a href=\"{html.escape(f)}\">{html.escape(f)}</a>: {html.escape(d)}</li>"
                                         for f, d in files] + ["</ul>"]
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(heading)}: thermal report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    return outputs.text(out / "index.html", page)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return str(value)
