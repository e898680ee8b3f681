"""The report a user opens: one folder with pictures, JSON, VTU and a static ``index.html``.

:func:`write_report` takes the whole run (:class:`codesign.pipeline.LayoutRun`) and builds every
table itself, so ``codesign report`` and a design script get the same page.

The HTML page needs no server and fetches nothing: CSS is inline, there is no script, and images
and data files are linked by relative paths, so the folder can be zipped, mailed or archived.
"""

from __future__ import annotations

import dataclasses
import html
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from ..pipeline import LayoutRun
    from ..thermal import ThermalReport

__all__ = ["SECTIONS", "ReportContext", "Section", "add_section", "html_table", "run_tables", "solver_rows",
           "write_report"]

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
        if abs(v) >= 1e4:
            return f"{v:,.0f}"
        if abs(v) < 1e-3:
            return f"{v:.2e}"
        return f"{v:.2f}" if abs(v) >= 1 else f"{v:.4f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _eng(v: float) -> str:
    """A number with 3 significant digits, never in exponent form between 1e-3 and 1e9 (``20,000``, ``0.026``)."""
    v = float(v)
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) >= 1e9 or abs(v) < 1e-3:
        return f"{v:.3g}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _length(m: float) -> str:
    """A length [m] in um below 1 mm, else in mm (``"250 um"``, ``"1.5 mm"``)."""
    return f"{_eng(m * 1e6)} um" if abs(m) < 1e-3 else f"{_eng(m * 1e3)} mm"


#: Human labels (with units) of the solver statistics of :func:`codesign.results.solver_stats`.
SOLVER_LABELS = {
    "method": "solver", "solver": "settings", "iterations": "CG iterations (last linear solve)",
    "nonlinear_iterations": "Picard iterations (temperature-dependent conductivity; 0: linear)",
    "fixed_point_iterations": "electro-thermal fixed-point iterations", "converged": "converged",
    "relative_residual": "true relative residual |b - Ax| / |b|",
    "energy_balance": "energy balance |in - out| / in (conservation check)",
    "setup_s": "set-up time [s]", "solve_s": "solve time [s]", "total_s": "total time [s]",
}


def solver_rows(stats: Mapping[str, Any]) -> list[dict]:
    """The solver statistics as ``{"statistic", "value"}`` rows with human labels and units."""
    rows = []
    for k, v in stats.items():
        label = SOLVER_LABELS.get(k)
        if label is None:
            label = (k[:-2].replace("_", " ") + " time [s]") if k.endswith("_s") else k.replace("_", " ")
        rows.append({"statistic": label, "value": v})
    return rows


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
            **({} if c.junction_error is None else {  # discretisation error (codesign.accuracy); ! = order off
                "± Tj [K]": f"{c.junction_error:.2g}" + ("!" if c.error_trusted is False else ""),
                "± Tmean [K]": f"{c.mean_error:.2g}" + ("!" if c.error_trusted is False else "")}),
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
            "layer": layer.name, "material": layer.material, "thickness": _length(layer.thickness),
            "z bottom - top [mm]": f"{zb * 1e3:.3f} - {zt * 1e3:.3f}",
            "extent [mm]": f"{_eng(layer.extent.width * 1e3)} x {_eng(layer.extent.height * 1e3)}",
            "interconnect": (f"{layer.interconnect.kind}, pitch {_length(layer.interconnect.pitch)}"
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


def _number_text(value) -> str:
    """A value that is a number written in exponent form (``"1e+06"``) as people write it (``1,000,000``)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return _eng(v) if isinstance(value, str) and "e" in value.lower() else str(value)


def _origin_text(origin: str, source) -> str:
    """``"file /path/to/layout.toml"`` -> ``"the layout file"``: the page names its own copy, not a path into
    the installation."""
    return str(origin).replace(f"file {source}", "the layout file (copied under layout/)") if source else str(origin)


def derating_text(d) -> str:
    """What a :class:`codesign.electrothermal.DeratingResult` means, in words: a derating below 1, an
    up-rating (headroom) above 1."""
    clock = f"(clock x{d.frequency_factor:.3f}, {d.pf_model} model)"
    if d.limiting == "none":
        return f"no junction limit reached up to dynamic power x{d.scale:.3f} {clock}"
    limit = "thermal runaway" if d.limiting == "runaway" else f"{d.limiting} at its junction limit"
    if d.scale < 1.0 - 1e-9:
        return f"derating: dynamic power x{d.scale:.3f} {clock} keeps every junction within its limit ({limit})"
    if d.scale > 1.0 + 1e-9:
        return f"headroom (up-rating): dynamic power may rise x{d.scale:.3f} {clock} before {limit}"
    return f"at the limit: the nominal dynamic power just fits ({limit})"


def _stack_power(run, name: str) -> float:
    """The power the thermal solve gave an HBM stack [W] (leakage included)."""
    for c in run.thermal.chiplets:
        if c.name == name:
            return c.power
    return run.stack.chiplet(name).total_power


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
            rows.append({"link": link["name"], "PHY": link["phy"], "geometry": link["geometry"],
                         "bandwidth [GB/s]": _eng(link["bandwidth"] / 8e9),
                         "utilisation [%]": 100 * link["utilisation"],
                         "energy [pJ/bit]": link["energy_per_bit"] * 1e12, "power [W]": link["power"],
                         "PHY area [mm²]": sum(link["phy_area"]) * 1e6, "shoreline [mm]": link["shoreline"] * 1e3,
                         "latency [ns]": link["latency"] * 1e9, "flags": ", ".join(flags) or "ok"})
        tables["Links"] = rows
        if run.links.hbm:
            tables["HBM stacks"] = [
                {"stack": h.stack, "host": h.host, "PHY": h.phy, "demanded [GB/s]": _eng(h.demanded / 8e9),
                 "deliverable [GB/s]": _eng(h.deliverable / 8e9),
                 "power in this solve [W]": _stack_power(run, h.stack)} for h in run.links.hbm]
    if run.coupled is not None:
        c = run.coupled
        tables["Leakage at the operating point"] = [
            {"chiplet": n, "dynamic [W]": c.dynamic.get(n, 0.0), "leakage [W]": c.leakage.get(n, 0.0),
             "leakage share [%]": 100 * c.leakage_share.get(n, 0.0)} for n in c.dynamic]
    if run.derating is not None:
        d = run.derating
        tables["Thermal derating"] = [{"result": derating_text(d), "dynamic power scale": d.scale,
                                       "clock factor": d.frequency_factor, "power-frequency model": d.pf_model,
                                       "limiting chiplet": d.limiting, "notes": "; ".join(d.notes) or "-"}]
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
        ] + [{"quantity": "note", "value": n} for n in p["notes"]] + [
            # which cost values are defaults and which came from the file (codesign.ppac.PPAC.cost_inputs)
            {"quantity": f"cost input: {c['name']}",
             "value": f"{_number_text(c['value'])} ({_origin_text(c['origin'], run.stack.source)})"}
            for c in p.get("cost_inputs", [])]
    return tables


@dataclass
class ReportContext:
    """What a section builder sees: the run, the report folder and the files written so far.

    A builder may write files of its own with ``outputs`` (whole or not at all) into ``folder`` and
    list them in ``files`` (``(relative name, description)``) for the page's *Files* section.
    """

    run: "LayoutRun"
    folder: Path
    outputs: Any
    files: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    pictures: list = field(default_factory=list)   # (file, caption) shown under the chiplet table
    assumptions: dict = field(default_factory=dict)  # codesign.assumptions.run_assumptions(run)
    tables: dict = field(default_factory=dict)     # run_tables(run)

    @property
    def report(self) -> "ThermalReport":
        return self.run.thermal


@dataclass(frozen=True)
class Section:
    """One ``<h2>`` section of the page: ``build(ctx)`` returns its HTML body, or None to leave it out."""

    title: str
    build: Callable[[ReportContext], "str | None"]


#: The sections of the page after the summary cards, in order. Add one with :func:`add_section`
#: (e.g. a warpage section); every builder gets the same :class:`ReportContext`.
SECTIONS: list[Section] = []


def add_section(title: str, build: Callable[[ReportContext], "str | None"], *, after: str | None = None) -> None:
    """Register a section of the report page (after the section titled ``after``, else last).

    ``build(ctx)`` returns the section's HTML (use :func:`html_table` for tables, with units in the
    column names) or None when the run has nothing for it. A title already registered is replaced.
    """
    sec = Section(title, build)
    for i, old in enumerate(SECTIONS):
        if old.title == title:
            SECTIONS[i] = sec
            return
    if after is not None:
        for i, old in enumerate(SECTIONS):
            if old.title == after:
                SECTIONS.insert(i + 1, sec)
                return
        raise ValueError(f"`add_section(after={after!r})`: no such section; sections are "
                         f"{[s.title for s in SECTIONS]}")
    SECTIONS.append(sec)


def _meta(text: str) -> str:
    return f"<p class=\"meta\">{html.escape(text)}</p>"


def _section_chiplets(ctx: ReportContext) -> str:
    rows, classes = _chiplet_rows(ctx.report)
    out = [html_table(rows, row_class=classes),
           _meta("Tj: largest nodal temperature in the die; Tmean: its volume mean; margin: Tj,max - Tj "
                 "(negative rows are over their limit); power: the heat the die dissipated in this solve "
                 "(leakage included when the layout has leakage data).")]
    if ctx.report.accuracy is not None:
        out.append(_meta("± : estimated discretisation error (Richardson from two coarsened grids; ! where no "
                         "observed order in range verified it: Roache's two-grid bound; docs/accuracy.md). "
                         + ctx.report.accuracy.summary() + "."))
    for name, caption in ctx.pictures:
        out.append(f"<figure><a href=\"{html.escape(name)}\"><img src=\"{html.escape(name)}\" "
                   f"alt=\"{html.escape(caption)}\"></a><figcaption>{html.escape(caption)}</figcaption></figure>")
    return "\n".join(out)


def _section_energy(ctx: ReportContext) -> str:
    r = ctx.report
    return "\n".join([
        html_table(_energy_rows(r)),
        _meta("How to read this: heat generated in the package must leave through its cooled faces; the "
              "relative residual |in - out| / in checks that the solve conserved energy (below 1e-6 it did, "
              "to the solver's tolerance). It is a consistency check of the numerical solution, not an "
              "accuracy estimate: the answer is only as good as the boundary conditions, materials and "
              "mesh listed under Assumptions.")])


def _section_boundaries(ctx: ReportContext) -> str:
    rows = []
    for b in ctx.assumptions["boundary_conditions"]:
        rows.append({"boundary": b["boundary"], "kind": b["kind"], "what it models": b["meaning"],
                     "faces": b["faces"],
                     "h [W/m²/K]": b["h_W_per_m2K"] if b["applied"] else "0 (adiabatic)",
                     "ambient [°C]": b["ambient_C"]})
    return html_table(rows) + "\n" + _meta(
        "Each cooled face loses q = h (T - ambient); h lumps what lies beyond the modelled stack (heat "
        "sink or cold plate above the top layer, board below the bottom layer).")


def _section_materials(ctx: ReportContext) -> str:
    rows = []
    for m in ctx.assumptions["materials"]:
        aniso = not (m["kx_W_per_mK"] == m["ky_W_per_mK"] == m["kz_W_per_mK"])
        rows.append({"material": m["name"],
                     "k [W/m/K]": (f"{_eng(m['kx_W_per_mK'])} / {_eng(m['ky_W_per_mK'])} / {_eng(m['kz_W_per_mK'])}"
                                   if aniso else _eng(m["kx_W_per_mK"])),
                     "heat capacity [MJ/m³/K]": m["heat_capacity_J_per_m3K"] / 1e6,
                     "k(T) exponent": m["temperature_exponent"] or "-",
                     "homogenised from": ", ".join(m["homogenised_from"]) or "-",
                     "source": m["source"]})
    return html_table(rows) + "\n" + _meta(
        "Conductivities as solved (x / y / z where they differ); bump, TSV, hybrid-bond and HBM layers are "
        "homogenised into anisotropic blocks from the parent materials named, whose own rows follow.")


def _section_model(ctx: ReportContext) -> str:
    a = ctx.assumptions
    mesh = a["mesh"]
    c = mesh["controls"]
    rows = [{"setting": "mesh", "value": mesh["summary"]},
            {"setting": "element", "value": mesh["element"]},
            {"setting": "mesh controls", "value": (
                f"lateral cells at most {_length(c['max_lateral_size_mm'] * 1e-3)}"
                + (f", at least {_length(c['min_lateral_size_mm'] * 1e-3)}" if c["min_lateral_size_mm"] else "")
                + f", grading {c['grading']:g}, vertical cells at most {_length(c['max_vertical_size_mm'] * 1e-3)}, "
                  f"{c['cells_per_layer']} per layer at least")},
            {"setting": "solver", "value": a["solver"]["settings"] or a["solver"]["method"]},
            {"setting": "electro-thermal (leakage) coupling", "value": a["solver"]["electrothermal"]},
            {"setting": "derating search", "value": a["solver"]["derating"]}]
    if a.get("package_technology"):
        t = a["package_technology"]
        rows.append({"setting": "package technology (cost model)", "value": f"{t['technology']}: {t['reason']}"})
    if a["process_nodes"]:
        rows.append({"setting": "process nodes (cost model)",
                     "value": ", ".join(f"{k}: {v}" for k, v in a["process_nodes"].items())})
    out = [html_table(rows)]
    defaults = a["defaults"] + a["notes"]
    if defaults:
        out += ["<p>Defaults and assumptions the tool applied:</p>", "<ul>"]
        out += [f"<li>{html.escape(d)}</li>" for d in defaults]
        out.append("</ul>")
    return "\n".join(out)


def _section_solver(ctx: ReportContext) -> str:
    return html_table(solver_rows(ctx.report.solver))


def _section_layers(ctx: ReportContext) -> str:
    return html_table(_layer_rows(ctx.report))


def _run_table(title: str) -> Callable[[ReportContext], "str | None"]:
    def build(ctx: ReportContext):
        table = ctx.tables.get(title)
        return None if table is None else html_table(table)
    return build


for _title, _build in (("Chiplet temperatures", _section_chiplets), ("Energy balance", _section_energy),
                       ("Boundary conditions", _section_boundaries), ("Materials", _section_materials),
                       ("Mesh, solver and model assumptions", _section_model), ("Solver", _section_solver),
                       ("Layers (top first)", _section_layers)):
    add_section(_title, _build)
for _title in ("Links", "HBM stacks", "Leakage at the operating point", "Thermal derating", "PPAC"):
    add_section(_title, _run_table(_title))
from . import warpage as _warpage  # noqa: E402,F401 - registers the "Warpage" section (codesign.viz.warpage)


def _copy_layout(stack, folder: Path, outputs) -> list[tuple[str, str]]:
    """Copy the layout file and the CSV files it names into ``folder/layout/``; the files listed."""
    import shutil

    if not stack.source:
        return []
    src = Path(stack.source)
    if not src.is_file():
        return []
    dest = folder / "layout"
    files = [(src, dest / src.name, "the layout file this report was computed from")]
    for c in stack.chiplets:
        pm = getattr(c, "power_map", None)
        if pm is None:
            continue
        csv = (src.parent / pm.path)
        try:
            rel = csv.resolve().relative_to(src.parent.resolve())
        except ValueError:  # outside the layout's folder: keep the name only
            rel = Path(csv.name)
        if csv.is_file():
            files.append((csv, dest / rel, f"power map of {c.name}"))
    out = []
    for s, d, what in files:
        outputs.write(d, lambda tmp, s=s: shutil.copyfile(s, tmp))
        out.append((d.relative_to(folder).as_posix(), what))
    return out


def write_report(run: "LayoutRun", out_dir, *, title: str | None = None, pictures_3d: bool = True,
                 outputs=None, warpage: "Future | None" = None) -> Path:
    """Write a self-contained report folder for a run and return the path of its ``index.html``.

    The folder holds ``hotspots.png`` and ``hotspots_exploded.png`` (3D,
    :func:`codesign.viz.render.plot_hotspots`), ``layer_maps.png``
    (:func:`codesign.viz.plots.plot_layer_maps`), ``run.json`` (``run.to_dict()``: temperatures,
    links, leakage, derating, PPAC and the ``assumptions`` of :func:`codesign.assumptions.run_assumptions`),
    ``temperature.vtu`` with its ``temperature.regions.json`` sidecar (:func:`codesign.export_vtu`,
    for ParaView), a copy of the layout file and its power-map CSVs under ``layout/``, and
    ``index.html`` with the sections of :data:`SECTIONS`: chiplet temperatures, energy balance,
    boundary conditions, materials, mesh and solver settings, layers, and the links, HBM, leakage,
    derating and PPAC tables of :func:`run_tables` when the run has them.

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
    warpage : concurrent.futures.Future (or anything with its ``result()``), optional
        A warpage analysis still running, e.g. on a second thread as ``codesign report`` runs it
        (:func:`codesign.analyse_warpage`; its result is a ``WarpageReport``, or None when it could not
        be computed). The pictures of the temperatures are drawn while it runs (their work holds the
        GIL, its solve does not: ``codesign report demo`` median 6.22 -> 5.11 s on two cores,
        benchmarks/RESULTS.md), then its
        result becomes the run's ``warpage`` before anything reads it. An exception it raised is
        raised here.

    Examples
    --------
    >>> import codesign as cd
    >>> from codesign.viz import write_report
    >>> run = cd.run_layout(cd.load_layout("demo"))            # doctest: +SKIP
    >>> write_report(run, "out/demo_report")                   # doctest: +SKIP
    PosixPath('out/demo_report/index.html')
    """
    from .._output import OutputError, Outputs, json_text
    from ..assumptions import run_assumptions
    from ..mesh import export_vtu
    from . import plots

    outputs = Outputs() if outputs is None else outputs
    report = run.thermal
    out = outputs.folder(out_dir)
    stack = run.stack
    ctx = ReportContext(run=run, folder=out, outputs=outputs)

    pictures: list[tuple[str, str]] = []
    if pictures_3d:
        plotter = []  # both pictures from one plotter: one render window (OpenGL context) set up, not two
        try:
            from . import render

            for key, kw, caption in (
                    ("hotspots", {}, "Temperature in 3D, the corner in front of the hottest die cut away through its "
                                     "hotspot; flags give each chiplet's junction temperature and margin."),
                    ("exploded", {"exploded": True}, "The same with the layers pulled apart vertically.")):
                def draw(tmp, kw=kw):
                    pl = render.plot_hotspots(report, screenshot=tmp, off_screen=True,
                                              plotter=plotter[0] if plotter else None, **kw)
                    plotter[:] = [pl]

                outputs.write(out / FILES[key], draw)
                pictures.append((FILES[key], caption))
        except OutputError:  # the folder or the disk, not the rendering: the report cannot be written
            raise
        except Exception as exc:  # noqa: BLE001 - a missing OpenGL must not cost the rest of the report
            msg = f"3D pictures not rendered: {type(exc).__name__}: {exc}"
            warnings.warn(f"`write_report`: {msg}", RuntimeWarning, stacklevel=2)
            ctx.notes.append(msg)
        finally:
            for pl in plotter:
                pl.close()
    outputs.write(out / FILES["layers"], lambda tmp: plots.plot_layer_maps(report, tmp))
    pictures.append((FILES["layers"], "Largest temperature through the thickness of each layer (top layer first); "
                                      "the layer's own chiplets outlined and named (numbered when a name does not "
                                      "fit, with the key under the panel), other layers' dies dashed, power "
                                      "blocks hatched, hotspots marked x."))
    ctx.pictures = pictures
    if warpage is not None:  # everything from here on reads the run's warpage
        run = dataclasses.replace(run, warpage=warpage.result())
        ctx.run = run

    data = run.to_dict()
    ctx.assumptions = data.get("assumptions") or run_assumptions(run)
    ctx.tables = run_tables(run)
    layout_files = _copy_layout(stack, out, outputs)
    outputs.text(out / FILES["json"], json_text(data, default=_json_default))
    sidecar = export_vtu(report.model, out / FILES["vtu"], temperature=report.temperature, outputs=outputs)

    worst = min((c for c in report.chiplets if c.margin is not None), key=lambda c: c.margin, default=None)
    cards = [("max temperature", f"{report.max_temperature - KELVIN:.1f} °C", False),
             ("hottest chiplet", report.hottest.name if report.chiplets else "-", False),
             ("power", f"{report.power_in:.1f} W", False)]
    if worst is not None:
        cards.append((f"smallest margin ({worst.name})", f"{worst.margin:+.1f} K", worst.margin < 0))
    cards.append(("energy balance (relative residual; a conservation check, see below)",
                  f"{report.energy_residual:.1e}", report.energy_residual > 1e-6))

    heading = title or stack.name
    if layout_files:
        where = (f"<a href=\"{html.escape(layout_files[0][0])}\">{html.escape(layout_files[0][0])}</a> "
                 f"(a copy of {html.escape(_source_name(stack.source))})")
    else:
        where = html.escape(_source_name(stack.source) or "- (built in Python, not read from a file)")
    amb = {b["boundary"]: b for b in ctx.assumptions["boundary_conditions"]}
    cooling = "; ".join(f"{b['boundary']} {b['kind'].replace('_', ' ')} h = {_eng(b['h_W_per_m2K'])} W/m²/K to "
                        f"{b['ambient_C']:.0f} °C" for b in amb.values() if b["applied"])
    body = [f"<h1>{html.escape(heading)}</h1>",
            f"<p class=\"meta\">{html.escape(stack.description)}<br>Layout: {where}"
            f" &middot; written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            f"<br>Cooling: {html.escape(cooling or 'none (every face adiabatic)')}"
            f" &middot; mesh {html.escape(report.model.summary())}</p>",
            "<div class=\"summary\">"
            + "".join(f"<div class=\"card{' bad' if bad else ''}\">{html.escape(k)}<b>{html.escape(v)}</b></div>"
                      for k, v, bad in cards) + "</div>"]
    for n in ctx.notes:
        body.append(f"<p class=\"note\">{html.escape(n)}</p>")
    for section in list(SECTIONS):
        content = section.build(ctx)
        if content is not None:
            body += [f"<h2>{html.escape(section.title)}</h2>", content]
    files = [(FILES["json"], "the run (JSON: temperatures in °C, lengths in mm, powers in W; links, leakage, "
                             "derating and PPAC when computed; the assumptions: boundary conditions, materials, "
                             "mesh, solver, process nodes, defaults)"),
             (FILES["vtu"], "mesh and temperature for ParaView (VTU)"),
             (sidecar.name, "region and material names of the VTU ids")] + layout_files + ctx.files
    body += ["<h2>Files</h2>", "<ul>"] + [f"<li><a href=\"{html.escape(f)}\">{html.escape(f)}</a>: {html.escape(d)}</li>"
                                         for f, d in files] + ["</ul>"]
    if layout_files:
        body.append(_meta(f"Re-run this report from its own copy of the layout: codesign report "
                          f"{layout_files[0][0]} -o <folder>"))
    page = ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(heading)}: thermal report</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")
    return outputs.text(out / "index.html", page)


def _source_name(source) -> str:
    """The layout's origin for humans: a shipped layout by name, else the path as given."""
    if not source:
        return ""
    try:
        from ..layout_io import shipped_layout_path

        p = Path(source)
        if p.resolve() == shipped_layout_path(p.stem).resolve():
            return f"the shipped layout '{p.stem}'"
    except Exception:  # noqa: BLE001 - not a shipped name: show the path
        pass
    return str(source)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return str(value)
