"""``codesign links LAYOUT``: evaluate the layout's die-to-die, memory and optical links."""

from __future__ import annotations

from ._common import write_json


def add_parser(sub) -> None:
    p = sub.add_parser("links", help="evaluate the layout's die-to-die, memory and optical links",
                       description="Bandwidth, energy per bit, power, PHY area, shoreline and latency of every link "
                                   "of a layout, with the limits each one exceeds.")
    p.add_argument("layout", help="a .toml file or a shipped layout name")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the link report as JSON")
    p.set_defaults(execute=execute)


def execute(args) -> int:
    from ..interconnect import evaluate_links
    from ..layout_io import load_layout

    report = evaluate_links(load_layout(args.layout))
    print(report.table())
    if args.json:
        print(f"\nwrote {write_json(args.json, report.to_dict())}")
    return 0
