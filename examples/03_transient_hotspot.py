"""A transient hotspot study: how fast does the logic die heat up after a power step?

The demo's logic die idles at 20 W, bursts to 100 W for 2 s, then idles again. The die and
lid heat in about a second (thin silicon and copper: small heat capacity), while the substrate
and the board take far longer. Physics to expect:

* Before the burst the die sits near its 20 W state; at the end of the burst it is hottest; after
  the burst it cools.
* The peak stays below the steady 100 W temperature, because 2 s is shorter than the slowest
  time constant of the package.
* Power in equals the trace at every output time.
"""

# %%
from pathlib import Path

import codesign as cd

TRACE = """# logic die power trace: idle, burst, idle
time [s], logic [W]
0, 20
1, 100
3, 20
"""


def main(out_dir="out/03_transient_hotspot", max_lateral_size=1.5e-3, dt=0.05, duration=5.0):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "trace.csv").write_text(TRACE)
    stack = cd.load_layout("demo")
    model = cd.build(stack, max_lateral_size=max_lateral_size)
    trace = cd.read_power_trace(out / "trace.csv", stack)

    # %%
    # Start from the steady state at the idle power, then follow the trace (BDF2).
    transient = cd.analyse_transient(model, trace, duration=duration, dt=dt, initial="steady")
    print(transient.table())

    # %%
    # For comparison, the steady state at the burst power (the layout's own 100 W).
    burst_steady = cd.analyse(model)
    from codesign.viz import plot_transient

    plot_transient(transient.times, transient.junction, out / "junction.png")
    peak, at = transient.peak("logic")
    return {
        "peak_C": peak - 273.15,
        "peak_time_s": at,
        "steady_burst_C": burst_steady.chiplet("logic").junction - 273.15,
        "start_C": float(transient.junction["logic"][0]) - 273.15,
        "end_C": float(transient.junction["logic"][-1]) - 273.15,
        "power_in_W": transient.power_in.tolist(),
        "times_s": transient.times.tolist(),
    }


if __name__ == "__main__":
    r = main()
    print({k: v for k, v in r.items() if not isinstance(v, list)})
