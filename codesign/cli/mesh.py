"""``codesign mesh LAYOUT -o FILE.vtu``: mesh a layout and write it for ParaView."""

from __future__ import annotations

from .._output import Outputs
from ._common import add_max_cells_flag, length


def add_parser(sub) -> None:
    p = sub.add_parser("mesh", help="mesh a layout and write a .vtu file",
                       description="Mesh a layout and write the mesh (region and material ids, with a JSON sidecar "
                                   "naming them) as a .vtu file for ParaView.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("-o", "--output", required=True, help="output .vtu file")
    p.add_argument("--max-lateral-size", type=length, default=None, metavar="LENGTH", help='mesh override, e.g. "250 um"')
    add_max_cells_flag(p)
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..layout_io import load_layout
    from ..mesh import export_vtu
    from ..model import build

    stack = load_layout(args.layout)
    model = build(stack, max_lateral_size=args.max_lateral_size, max_cells=args.max_cells)
    print(f"{stack.name}: {model.summary()}")
    side = export_vtu(model, args.output, outputs=Outputs())
    print(f"wrote {args.output} (region and material names in {side.name})")
    return 0
