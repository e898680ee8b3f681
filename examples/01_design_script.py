"""A design script: load a package, solve it, read the links, look at the hotspot.

The shipped ``demo`` layout is a logic die between two HBM3 stacks on a silicon interposer, under
a copper lid and a heat sink (h = 2e4 W/m²/K to 35 °C). Physics to expect:

* Energy balance: every watt made in the dies leaves through the heat sink or the board, so the
  convective heat out equals the 116 W in, to the solver tolerance.
* The logic die (100 W over 80 mm², with a 60 W core block) is the hotspot; the HBM stacks sit
  tens of kelvin cooler.
* Each HBM3 link needs 819 GB/s; one HBM3 stack delivers 1024 pins × 6.4 Gb/s = 819.2 GB/s.
"""

# %%
# Load and solve. `cd.build` meshes the stack once (grid lines on every interface and die edge);
# `cd.analyse` solves it with the matrix-free JAX finite-element solver (multigrid-preconditioned
# CG, float64 to rtol 1e-8 without any global JAX setting).
import codesign as cd
import solvers


def main(out_dir="out/01_design_script", method="jax", max_lateral_size=None, picture=True):
    stack = cd.load_layout("demo")
    model = cd.build(stack, max_lateral_size=max_lateral_size)
    result = cd.analyse(model, solver=solvers.get_solver(method))
    print(result.table())

    # %%
    # The interconnect: every link's PHY, bandwidth, energy and area.
    links = cd.evaluate_links(stack)
    print(links.table())

    # %%
    # A picture of the hotspot (off-screen PNG on a machine without a display).
    png = None
    if picture:
        from pathlib import Path

        from codesign.viz import plot_hotspots

        Path(out_dir).mkdir(parents=True, exist_ok=True)
        png = Path(out_dir) / "hotspots.png"
        plot_hotspots(result, screenshot=str(png), off_screen=True).close()
        print(f"wrote {png}")

    logic = result.chiplet("logic")
    return {
        "power_in_W": result.power_in,
        "heat_out_W": sum(result.heat_out.values()),
        "energy_residual": result.energy_residual,
        "hottest": result.hottest.name,
        "logic_junction_C": logic.junction - 273.15,
        "hbm_deliverable_GBps": links.hbm_deliverable / 8e9 / len(links.hbm),
        "picture": str(png) if png else None,
    }


if __name__ == "__main__":
    print(main())
