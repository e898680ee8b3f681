"""``codesign check LAYOUT``: validate a layout, mesh it, and print what was understood."""

from __future__ import annotations

from ..results import text_table
from ._common import format_length, format_number


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="validate a layout and print a summary (exit 1 on errors)",
                       description="Load and mesh a layout and print its layers, chiplets, homogenised materials, "
                                   "links, boundaries and mesh; every problem of the file is listed at once.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..layout_io import load_layout
    from ..model import build

    stack = load_layout(args.layout)
    print(summary(stack, build(stack)))
    print("OK")
    return 0


def summary(stack, model) -> str:
    """The text ``codesign check`` prints for a valid layout."""
    fl = format_length
    out = [f"{stack.name}: {stack.description}", f"  file: {stack.source}",
           f"  package: {fl(stack.package.width)} x {fl(stack.package.height)}, "
           f"height {fl(stack.height)}, total power {stack.total_power:.2f} W", ""]
    rows = []
    for layer in stack.layers:
        ic = ""
        if layer.interconnect is not None:
            i = layer.interconnect
            ic = f"{i.kind} {i.diameter * 1e6:.3g}/{i.pitch * 1e6:.3g} um ({layer.interconnect_region})"
        rows.append([layer.name, fl(layer.thickness), layer.material, ic,
                     ", ".join(c.name for c in stack.occupants(layer.name))])  # dies spanning it too
    out += [text_table(rows, ["layer (top to bottom)", "thickness", "fill", "interconnect", "chiplets"]), ""]
    rows = []
    for c in stack.chiplets:
        where = f"{c.spans[0]} to {c.spans[-1]}" if c.spans else stack.layer_of(c.name).name
        rows.append([c.name, c.kind, where, f"{fl(c.rect.width)} x {fl(c.rect.height)}",
                     f"{c.total_power:.2f} W", f"{c.tj_max - 273.15:.0f} degC" if c.tj_max else "-",
                     "yes" if c.leakage else "-"])
    out += [text_table(rows, ["chiplet", "kind", "layer", "size", "power", "Tj,max", "leakage"]), ""]
    derived = [m for m in stack.materials if ":" in m.name]
    if derived:
        rows = [[m.name, f"{m.kx:.4g}", f"{m.ky:.4g}", f"{m.kz:.4g}"] for m in derived if m.name.count(":") == 1]
        out += [text_table(rows, ["homogenised material", "kx W/m/K", "ky", "kz"]), ""]
    if stack.links:
        rows = [[k.name, " <-> ".join(k.endpoints), f"{format_number(k.bandwidth / 8e9)} GB/s", k.phy]
                for k in stack.links]
        out += [text_table(rows, ["link", "between", "bandwidth", "phy"]), ""]
    b = stack
    def bc(x) -> str:
        return (f"{x.kind} h={format_number(x.heat_transfer_coefficient)} W/m^2/K to "
                f"{format_number(x.ambient - 273.15)} degC") if x.heat_transfer_coefficient > 0 else x.kind

    out.append(f"  boundaries: top {bc(b.top)}; bottom {bc(b.bottom)}; sides {bc(b.sides)}")
    out.append(f"  mesh: {model.summary()}")
    p_grid = model.fields().total_power(model.grid)
    out.append(f"  power on the grid: {p_grid:.6g} W (layout {stack.total_power:.6g} W)")
    return "\n".join(out)
