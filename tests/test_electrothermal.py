"""Electro-thermal coupling against verification.md V6, runaway, monotonicity and derating."""

import math

import pytest

import codesign as cd
import solvers
from codesign.electrothermal import derate, solve_coupled
from codesign.errors import ThermalRunawayError

REF = solvers.ReferenceAMG()
from solvers.analytic import leakage_equilibrium

K0 = 273.15


def v6_layout(*, p_dyn=20.0, p_leak=5.0, beta=0.02, t_ref=60.0, h=1e4, tj_max=None):
    """A 10 x 10 mm, 100 um die of k = 1e4 W/m/K: isothermal to ~1e-3 K; R = 1/(h A) = 1e4/h K/W."""
    tj = f'tj_max = "{tj_max} degC"' if tj_max is not None else ""
    return cd.loads_layout(f"""
schema = 1
name = "v6"
[materials.isothermal]
conductivity = "1e4 W/m/K"
heat_capacity = "1 MJ/m^3/K"
source = "test material: nearly isothermal die"
[package]
size = ["10 mm", "10 mm"]
[boundaries.top]
heat_transfer_coefficient = "{h} W/m^2/K"
ambient = "40 degC"
[boundaries.bottom]
kind = "adiabatic"
[[layers]]
name = "die"
material = "isothermal"
thickness = "100 um"
  [[layers.chiplets]]
  name = "cpu"
  material = "isothermal"
  origin = ["0 mm", "0 mm"]
  size = ["10 mm", "10 mm"]
  power = "{p_dyn} W"
  {tj}
  leakage = {{ reference_power = "{p_leak} W", reference_temperature = "{t_ref} degC", coefficient = "{beta} 1/K" }}
[mesh]
max_lateral_size = "2.5 mm"
""", source="v6.toml")


def analytic(**kw):
    d = dict(p_dyn=20.0, p_leak=5.0, beta=0.02, t_ref=60.0, h=1e4)
    d.update(kw)
    return leakage_equilibrium(thermal_resistance=1.0 / (d["h"] * 1e-4), ambient=40.0 + K0,
                               dynamic_power=d["p_dyn"], leakage_power=d["p_leak"],
                               leakage_coefficient=d["beta"], reference_temperature=d["t_ref"] + K0, throw=False)


@pytest.mark.parametrize("p_dyn, p_leak, beta", [(20.0, 5.0, 0.02), (30.0, 8.0, 0.02), (20.0, 5.0, 0.06)])
def test_v6_operating_point(p_dyn, p_leak, beta):
    ref = analytic(p_dyn=p_dyn, p_leak=p_leak, beta=beta)
    assert not ref.runaway
    r = solve_coupled(v6_layout(p_dyn=p_dyn, p_leak=p_leak, beta=beta), solver=REF, tol=1e-5)
    tj = r.report.chiplet("cpu").junction
    # Die conduction adds at most P t/(k A) = 40 W * 1e-4 m / (1e4 * 1e-4) = 4e-3 K: tolerance 1e-2 K.
    assert tj == pytest.approx(ref.temperature, abs=1e-2)
    assert r.dynamic["cpu"] + r.leakage["cpu"] == pytest.approx(ref.power, rel=1e-3)
    assert r.report.energy_residual < 1e-6
    assert r.iterations >= 3 and r.contraction < 1
    # The loop gain R·β·P_leak is the contraction factor of the fixed point.
    assert r.contraction == pytest.approx(ref.loop_gain, abs=0.05)


def test_runaway_is_raised_where_the_scalar_equation_has_no_root():
    ref = analytic(p_dyn=50.0, p_leak=20.0, beta=0.05, t_ref=40.0)
    assert ref.runaway
    with pytest.raises(ThermalRunawayError, match=r"thermal runaway: .*Chiplet 'cpu' reached .* degC .* W of leakage"
                                                  r".*Improve the cooling") as info:
        solve_coupled(v6_layout(p_dyn=50.0, p_leak=20.0, beta=0.05, t_ref=40.0), solver=REF)
    assert info.value.chiplet == "cpu"
    assert info.value.temperature > ref.tangency_temperature
    assert len(info.value.history) < 300  # never loops forever


def test_close_to_runaway_still_converges_to_the_smallest_root():
    # Loop gain R·β·P_leak ≈ 0.74 at the root: slow contraction, still a stable point.
    ref = analytic(p_dyn=30.0, p_leak=5.0, beta=0.045)
    assert not ref.runaway and 0.7 < ref.loop_gain < 1
    r = solve_coupled(v6_layout(p_dyn=30.0, p_leak=5.0, beta=0.045), solver=REF, tol=1e-5)
    assert r.report.chiplet("cpu").junction == pytest.approx(ref.temperature, abs=2e-2)


def test_leakage_falls_with_better_cooling():
    leaks = [solve_coupled(v6_layout(h=h), solver=REF).leakage["cpu"] for h in (5e3, 1e4, 2e4)]
    assert leaks[0] > leaks[1] > leaks[2]


def test_derating_sits_at_the_junction_limit():
    stack = v6_layout(tj_max=95.0)
    d = derate(stack, solver=REF, temperature_tolerance=0.02)
    assert d.limiting == "cpu"
    tj = d.at_limit.report.chiplet("cpu").junction
    assert tj <= 95.0 + K0 + 1e-9 and tj == pytest.approx(95.0 + K0, abs=0.1)
    assert d.frequency_factor == pytest.approx(d.scale ** (1 / 3))
    # Against the scalar equation: the power that puts T at 95 degC.
    t = 95.0 + K0
    p_total = (t - (40 + K0)) * 1e4 * 1e-4
    p_leak = 5.0 * math.exp(0.02 * (t - (60 + K0)))
    assert d.scale * 20.0 == pytest.approx(p_total - p_leak, rel=2e-3)
    assert d.margins["cpu"] > 0  # nominal 20 W is within the limit


def test_derating_below_one_when_nominal_exceeds_the_limit():
    d = derate(v6_layout(tj_max=60.0), solver=REF)
    assert d.scale < 1 and d.margins["cpu"] < 0


def test_coupled_transient_settles_on_the_coupled_steady_state():
    stack = v6_layout()
    steady = solve_coupled(stack, tol=1e-6)
    # Time constant ρc·t/h = 1e6 * 1e-4 / 1e4 = 0.01 s (loop gain ~0.1 barely changes it).
    tr = cd.analyse_transient(stack, duration=0.2, dt=0.002, initial="ambient")
    assert tr.junction["cpu"][-1] == pytest.approx(steady.report.chiplet("cpu").junction, abs=1e-3)
    leak = tr.solver["leakage_W"]["cpu"]
    assert leak[-1] == pytest.approx(steady.leakage["cpu"], rel=1e-4)
    assert leak[0] < leak[-1]  # leakage grows as the die heats


def test_coupled_transient_detects_runaway_in_time():
    stack = v6_layout(p_dyn=50.0, p_leak=20.0, beta=0.05, t_ref=40.0)
    with pytest.raises(ThermalRunawayError, match=r"passed .* degC at t = "):
        cd.analyse_transient(stack, duration=5.0, dt=0.005, runaway_temperature=400 + 273.15)


# -- leakage that decreases with temperature, and absurd coefficients (issue 17) --------------------------

def _with_leakage(stack, **changes):
    """``stack`` with the leakage of chiplet ``cpu`` changed (a layout of such a model, built as objects)."""
    import dataclasses

    layer = stack.layer_of("cpu")
    cpu = stack.chiplet("cpu")
    cpu = dataclasses.replace(cpu, leakage=dataclasses.replace(cpu.leakage, **changes))
    layer = dataclasses.replace(layer, chiplets=tuple(cpu if c.name == "cpu" else c for c in layer.chiplets))
    return dataclasses.replace(stack, layers=tuple(layer if x.name == layer.name else x for x in stack.layers))


def _scalar_root(factor):
    """Junction [K] of the V6 die (R = 1 K/W, 40 degC ambient, 20 W dynamic, 50 W leakage at 60 degC) with a
    decreasing leakage factor f(T - T_ref): the unique root of x = 50 f(x), x = T - 60 degC."""
    from scipy.optimize import brentq

    return 60.0 + K0 + brentq(lambda x: x - 50.0 * factor(x), -20.0, 100.0, xtol=1e-12)


@pytest.mark.parametrize("label, changes, factor", [
    # loop gain R dP/dT = -0.5: plain iterates oscillate and shrink
    ("mild polynomial", dict(model="polynomial", polynomial=(-0.01,)), lambda x: max(1 - 0.01 * x, 0.0)),
    # gain -1.5: plain iterates bounce between two fields for ever ("ratio 1.000 >= 1": reported as runaway)
    ("steep polynomial", dict(model="polynomial", polynomial=(-0.03,)), lambda x: max(1 - 0.03 * x, 0.0)),
    # gain -100, 2050 W at ambient: the first solve passed 600 degC ("a junction passed 600 degC": runaway)
    ("very steep polynomial", dict(model="polynomial", polynomial=(-2.0,)), lambda x: max(1 - 2.0 * x, 0.0)),
])
def test_decreasing_leakage_is_not_runaway_it_converges_to_the_one_operating_point(label, changes, factor):
    stack = _with_leakage(v6_layout(p_leak=50.0), **changes)
    r = solve_coupled(stack, solver=REF, tol=1e-5)
    tj = r.report.chiplet("cpu").junction
    assert tj == pytest.approx(_scalar_root(factor), abs=1e-2), label
    assert r.report.energy_residual < 1e-6
    assert len(r.notes) == 1 and r.notes[0].startswith("leakage decreases with temperature ('cpu': ")
    assert "check the sign of the leakage coefficients" in r.notes[0] and "was relaxed" in r.notes[0]
    assert "note: leakage decreases with temperature" in r.table()
    assert r.to_dict()["notes"] == list(r.notes)


def test_a_negative_exponential_coefficient_through_params_converges_too():
    """The layout reader refuses a negative exponential coefficient; a design script can still pass one."""
    import numpy as np

    model = cd.build(v6_layout(p_leak=50.0))
    p = model.params
    p = p.replace(leakage_coefficients={"cpu": np.asarray(p.leakage_coefficients["cpu"]) * 0 - 0.1})
    r = solve_coupled(model, params=p, solver=REF, tol=1e-5)
    assert r.report.chiplet("cpu").junction == pytest.approx(_scalar_root(lambda x: math.exp(-0.1 * x)), abs=1e-2)
    assert "leakage decreases with temperature" in r.notes[0] and "exponential, coefficient -0.1 1/K" in r.notes[0]


def test_increasing_leakage_has_no_note():
    assert solve_coupled(v6_layout(), solver=REF).notes == ()


@pytest.mark.parametrize("changes, match", [
    (dict(coefficient=1e300), r"the leakage of chiplet 'cpu' is not finite \(inf W\) .* \(exponential, coefficient "
                              r"1e\+300 1/K, 5 W at 60 degC\) overflows\. Check the coefficients and their units"),
    (dict(model="polynomial", polynomial=(1e300, 1e300)), r"the leakage of chiplet 'cpu' is not finite .*polynomial "
                                                          r"\[1e\+300 1/K\^1, 1e\+300 1/K\^2\]"),
    (dict(model="polynomial", polynomial=(1e300,)), r"chiplet 'cpu' leaked [0-9.e+]+ W \(polynomial \[1e\+300 1/K\^1\]\); "
                                                    r"leakage this large makes the solve fail"),
])
def test_an_absurd_leakage_coefficient_is_a_solve_error_never_inf_or_nan(changes, match):
    from codesign.errors import SolveError

    stack = _with_leakage(v6_layout(), **changes)
    for solver in (REF, None):          # the reference and the default (JAX) solver
        with pytest.raises(SolveError, match=match) as info:
            solve_coupled(stack, solver=solver)
        assert not isinstance(info.value, ThermalRunawayError)


@pytest.mark.parametrize("kw, match", [({"max_iterations": 0}, r"`solve_coupled\(max_iterations=0\)`"),
                                       ({"tol": float("nan")}, r"`solve_coupled\(tol=nan\)`")])
def test_bad_iteration_controls_are_model_errors(kw, match):
    with pytest.raises(cd.ModelError, match=match):
        solve_coupled(v6_layout(), solver=REF, **kw)


def test_derating_a_decreasing_leakage_model():
    """Derating evaluates scale 0, where the leakage of a steep decreasing model clamps to zero: a solve
    with no heat at all (a warm start there failed the solvers' energy-balance check). On the default
    solver: `ReferenceAMG` fails any 0 W solve that way, cold start or not (a solvers issue)."""
    stack = _with_leakage(v6_layout(p_leak=50.0, tj_max=95.0), model="polynomial", polynomial=(-0.03,))
    d = derate(stack, temperature_tolerance=0.02)
    assert d.limiting == "cpu"
    assert d.at_limit.report.chiplet("cpu").junction == pytest.approx(95.0 + K0, abs=0.1)
    # at 95 degC the leakage factor 1 - 0.03 * 35 is negative, so zero: 55 K = 1 K/W * 20 W * scale
    assert d.scale == pytest.approx(55.0 / 20.0, rel=5e-3)
    assert "leakage decreases with temperature" in d.nominal.notes[0]      # at the limit it is clamped to 0


# -- derating by superposition, the loop by correction solves (issue 13) -----------------------------------

TWO_DIES = """
schema = 1
name = "two_leaky"
[materials.si]
conductivity = "150 W/m/K"
heat_capacity = "1.6 MJ/m^3/K"
source = "test material: silicon-like (Incropera Table A.1 gives 148 W/m/K at 300 K)"
[materials.board]
conductivity = "20 W/m/K"
heat_capacity = "2 MJ/m^3/K"
source = "test material: a poor spreader, so each die has its own, far from uniform, temperature field"
[package]
size = ["20 mm", "10 mm"]
[boundaries.top]
heat_transfer_coefficient = "5e4 W/m^2/K"
ambient = "40 degC"
[boundaries.bottom]
kind = "adiabatic"
[[layers]]
name = "base"
material = "board"
thickness = "1 mm"
[[layers]]
name = "dies"
material = "board"
thickness = "200 um"
  [[layers.chiplets]]
  name = "a"
  material = "si"
  active_thickness = "200 um"
  origin = ["1 mm", "1 mm"]
  size = ["8 mm", "8 mm"]
  power = "40 W"
  tj_max = "95 degC"
  leakage = { reference_power = "8 W", reference_temperature = "60 degC", coefficient = "0.025 1/K" }
  [[layers.chiplets]]
  name = "b"
  material = "si"
  active_thickness = "200 um"
  origin = ["11 mm", "1 mm"]
  size = ["8 mm", "8 mm"]
  power = "25 W"
  tj_max = "80 degC"
  leakage = { reference_power = "6 W", reference_temperature = "60 degC", coefficient = "0.02 1/K" }
[mesh]
max_lateral_size = "1 mm"
"""


@pytest.fixture(scope="module")
def two_dies():
    """Two leaky dies on a poor spreader: die 'a' spans ~30 K, so its leakage is far from its power map's
    shape (superposition must carry the local leakage, not a per-chiplet lump)."""
    return cd.build(cd.loads_layout(TWO_DIES, source="two_dies.toml"))


def test_coupled_loop_by_corrections_equals_the_loop_of_full_solves(two_dies):
    import numpy as np

    fast = solve_coupled(two_dies, solver=REF, tol=1e-7)
    full = solve_coupled(two_dies, solver=REF, tol=1e-7, _inexact=False)   # a full solve every iteration
    t = fast.report.temperature
    assert float(np.ptp(t.ravel()[two_dies._node_masks["a"]])) > 20     # far from isothermal
    # the same fixed point: to the solvers' tolerance (rtol 1e-8 of ~100 W loads: ~1e-6 K)
    assert float(np.max(np.abs(t - full.report.temperature))) < 1e-5
    for n in ("a", "b"):
        assert fast.leakage[n] == pytest.approx(full.leakage[n], rel=1e-7)
    # one full solve first, corrections, ONE confirming full solve whose balance is reported
    assert fast.report.solver["linear_solves"] == fast.iterations + 1
    assert fast.report.energy_residual < 1e-6 and fast.report.solver["relative_residual"] <= REF.rtol


@pytest.mark.parametrize("limits", ["as given", "b limits"])
def test_derating_by_superposition_equals_the_root_find(two_dies, limits):
    import dataclasses

    model = two_dies
    if limits == "b limits":   # die b at its limit first (a lower tj_max), so the scale is above 1
        stack = model.stack
        layer = stack.layer_of("b")
        chips = tuple(dataclasses.replace(c, tj_max=130 + K0) if c.name == "a" else
                      dataclasses.replace(c, tj_max=76 + K0) for c in layer.chiplets)
        layer = dataclasses.replace(layer, chiplets=chips)
        model = cd.build(dataclasses.replace(stack, layers=tuple(layer if x.name == layer.name else x
                                                                 for x in stack.layers)))
    fast = derate(model, solver=REF, temperature_tolerance=1e-6)
    root = derate(model, solver=REF, temperature_tolerance=1e-6, method="root_find")
    assert fast.method == "superposition" and root.method == "root_find"
    assert fast.limiting == root.limiting == ("a" if limits == "as given" else "b")
    assert (fast.scale < 1) == (limits == "as given")
    assert fast.scale == pytest.approx(root.scale, rel=1e-6)
    assert fast.frequency_factor == pytest.approx(root.frequency_factor, rel=1e-6)
    for n in ("a", "b"):
        assert fast.at_limit.report.chiplet(n).junction == pytest.approx(root.at_limit.report.chiplet(n).junction,
                                                                         abs=1e-5)
        assert fast.margins[n] == pytest.approx(root.margins[n], abs=1e-5)
    lim = fast.at_limit.report
    limit = model.stack.chiplet(fast.limiting).tj_max
    assert limit - 1e-6 <= lim.chiplet(fast.limiting).junction <= limit      # at the limit, never above
    assert lim.energy_residual < 1e-6 and lim.solver["relative_residual"] <= REF.rtol   # the confirming solve
    assert 0 < fast.at_limit.contraction < 0.9                               # a stable operating point
    # the dynamic response, one correction per iteration, the confirming solve, the stability check
    assert fast.linear_solves <= fast.evaluations + 4 and "superposition" in fast.work
    assert any(n.startswith("derating by superposition") for n in fast.notes)


def test_derating_by_superposition_on_the_default_solver():
    """MultigridCG: its confirming solve starts from the corrected field with a tolerance from the residual
    bound, and still reports a true relative residual within rtol (of ||b||) and the energy balance."""
    stack = v6_layout(tj_max=95.0)
    fast = derate(stack, temperature_tolerance=1e-6)
    root = derate(stack, temperature_tolerance=1e-6, method="root_find")
    assert fast.method == "superposition"
    assert fast.scale == pytest.approx(root.scale, rel=1e-6)
    lim = fast.at_limit.report
    assert lim.chiplet("cpu").junction == pytest.approx(95.0 + K0, abs=1e-5)
    assert lim.solver["relative_residual"] <= 1e-8 and lim.energy_residual < 1e-6


def test_derating_bounded_by_runaway_falls_back_to_the_root_find():
    """Past the fold the pinned iteration would find a point on the unstable branch; derating says why it
    took the root find, and answers as the root find does."""
    stack = v6_layout(tj_max=250.0, p_leak=5.0, beta=0.045, p_dyn=10.0)
    d = derate(stack, solver=REF)
    assert d.limiting == "runaway" and d.method == "root_find"
    assert any(n.startswith("derating by root find on coupled solves: ") for n in d.notes)
    assert d.scale == pytest.approx(derate(stack, solver=REF, method="root_find").scale, rel=1e-12)
    with pytest.raises(cd.SolveError, match=r"`derate\(method='superposition'\)`: .*use method='auto' or "
                                            r"'root_find'"):
        derate(stack, solver=REF, method="superposition")
    with pytest.raises(cd.ModelError, match=r"`derate\(method='newton'\)`: choose"):
        derate(stack, solver=REF, method="newton")
