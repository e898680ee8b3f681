"""``codesign optimize LAYOUT``: gradient-based thermal-aware placement of one layer's dies (needs optax)."""

from __future__ import annotations

import json
from pathlib import Path

from .._output import Outputs
from ..errors import ModelError
from ._common import (add_mesh_flags, length, mesh_controls, nonnegative_length, real, require_extra,
                      whole)


#: What to run when optax is missing (a default dependency since it is small; an install without it is damaged).
OPTAX_INSTALL = "pip install optax (a dependency of chiplet-codesign: reinstalling with `pip install .` brings it)"


def add_parser(sub) -> None:
    from ..explore.placement import PlacementWeights

    p = sub.add_parser("optimize", help="gradient-based thermal-aware placement of a layout's dies",
                       description="Move the dies of one layer to lower the peak temperature and the "
                                   "traffic-weighted wirelength (Adam on a soft placement model), then legalise "
                                   "and check with a conforming solve.",
                       epilog=f"Uses optax, a dependency of chiplet-codesign ({OPTAX_INSTALL}).")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("-o", "--output", default=None, help="folder for placement.json and placement.png")
    p.add_argument("--steps", type=whole(1), default=60, help="optimiser steps")
    p.add_argument("--layer", default=None, help="layer whose dies move (default: the one with the most dies)")
    p.add_argument("--learning-rate", type=real(minimum=0.0, inclusive=False), default=0.3, help="Adam step [mm]")
    p.add_argument("--wirelength-weight", type=real(), default=PlacementWeights.wirelength,
                   help="K per traffic-weighted mm")
    p.add_argument("--footprint-weight", type=real(), default=PlacementWeights.footprint, help="K per mm^2")
    p.add_argument("--cell-size", type=length, default=None, metavar="LENGTH",
                   help='fixed-grid cell, e.g. "1 mm" (default: the layout\'s)')
    p.add_argument("--min-spacing", type=nonnegative_length, default=0.0, metavar="LENGTH",
                   help='gap between dies, e.g. "200 um"')
    p.add_argument("--power", action="store_true", help="also redistribute the layer's power among its dies")
    add_mesh_flags(p)  # the mesh of the conforming solves before and after (`analysis_mesh`)
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..layout_io import load_layout
    from ..explore.placement import PlacementWeights, optimize_placement
    from ..viz.plots import plot_placement

    require_extra("optax", "`codesign optimize`", OPTAX_INSTALL)
    stack = load_layout(args.layout)
    layers = [layer.name for layer in stack.layers]
    if args.layer is not None and args.layer not in layers:
        raise ModelError(f"`codesign optimize --layer {args.layer}`: {stack.name} has no layer {args.layer!r}; its "
                         f"layers are {', '.join(layers)}")
    weights = PlacementWeights(wirelength=args.wirelength_weight, footprint=args.footprint_weight)
    res = optimize_placement(stack, layer=args.layer, steps=args.steps, learning_rate=args.learning_rate,
                             weights=weights, cell_size=args.cell_size, optimize_power=args.power,
                             min_spacing=args.min_spacing, analysis_mesh=mesh_controls(args))
    print(res.table())
    if args.output:
        out, outputs = Path(args.output), Outputs()
        outputs.text(out / "placement.json", json.dumps(res.to_dict(), indent=1))
        outputs.write(out / "placement.png", lambda tmp: plot_placement(res, tmp))
        print(f"wrote {out / 'placement.json'} and {out / 'placement.png'}")
    return 0
