"""``codesign layouts``: list the shipped reference layouts."""

from __future__ import annotations

from ..errors import CodesignError
from ..results import text_table


def add_parser(sub) -> None:
    p = sub.add_parser("layouts", help="list the shipped reference layouts",
                       description="List the reference layouts shipped with codesign (use their names anywhere "
                                   "a layout file is expected).")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..layout_io import load_layout, shipped_layout_path, shipped_layouts

    rows = []
    for name in shipped_layouts():
        try:
            s = load_layout(name)
            leak = sum(c.leakage.reference_power for c in s.chiplets if c.leakage is not None)
            rows.append([name, f"{s.total_power:.0f}", f"{leak:.0f}" if leak else "-", f"{len(s.chiplets)}",
                         s.description])
        except CodesignError as e:  # a broken shipped layout must not hide the others
            rows.append([name, "-", "-", "-", f"INVALID: {str(e).splitlines()[0]}"])
    print(text_table(rows, ["layout", "dynamic W", "leakage W at ref.", "chiplets", "description"]))
    print("\ndynamic W: the dies' dynamic power as written; leakage W at ref.: the leakage models' power at their "
          "reference temperature (the solve finds the leakage at the operating point)")
    print(f"\n(files in {shipped_layout_path('demo').parent})")
    return 0
