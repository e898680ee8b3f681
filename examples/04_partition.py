"""Partition exploration: should a server CPU be one die or several chiplets, and on what package?

`examples/systems/server_cpu.toml` lists the functional blocks of a server CPU (core clusters,
L3 cache, I/O) with their area, power, process-node options and the traffic between them.
`codesign.explore.explore` enumerates every way to group the blocks into chiplets (exhaustively
for these few blocks), picks nodes and packaging, floorplans the dies, builds each package stack
from the sourced recipe of its technology (`codesign.explore.floorplan.PACKAGE_RECIPES`), sizes
the die-to-die links, prices each candidate (yield, wafer cost, packaging, NRE) and solves the
best ones thermally (the library's default solver).
What to expect (the economics of chiplets): splitting a large die raises die yield enough to
pay for the packaging and PHY area, so the cheapest candidate is multi-chiplet; the monolithic
die is kept in the ranking, never dropped, with its reason when infeasible.
"""

# %%
import jax

jax.config.update("jax_enable_x64", True)

from pathlib import Path  # noqa: E402

from codesign.explore import explore_partitions, load_system  # noqa: E402

SYSTEM = Path(__file__).resolve().parent / "systems" / "server_cpu.toml"


def main(thermal_top=3):
    system = load_system(SYSTEM)
    result = explore_partitions(system, thermal_top=thermal_top)
    print(result.table(top=10))
    best = result.best
    mono = [c for c in result.candidates if len(c.partition) == 1]
    # `cost` is per good package including the NRE share; `peak_temperature` is in kelvin.
    cheapest_mono = min(mono, key=lambda c: c.cost) if mono else None
    return {
        "n_candidates": len(result.candidates),
        "n_infeasible": sum(1 for c in result.candidates if c.reasons),
        "best_chiplets": len(best.partition),
        "best_cost": best.cost,
        "best_stage": best.stage,
        "best_peak_C": best.peak_temperature - 273.15,
        "monolithic_cost": cheapest_mono.cost if cheapest_mono else None,
        "pareto": len(result.pareto(solved_only=True)),
    }


if __name__ == "__main__":
    print(main())
