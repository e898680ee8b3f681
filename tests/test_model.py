"""The design model: one parameter -> field map, gradients and batches from `codesign`, one road."""

import dataclasses
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import codesign as cd
import solvers
from codesign.homogenise import homogenise_interconnect

ROOT = Path(__file__).resolve().parents[1]
# the mesh of `codesign run demo --lateral-size 4 mm` (tests/test_cli.py, tests/test_readme_commands.py): one
# node count, so this file loads the solver programs those runs stored in the session's compile cache
COARSE = dict(max_lateral_size=4e-3, min_lateral_size=4e-3, grading=1.0)


@pytest.fixture(scope="module")
def demo():
    return cd.build(cd.load_layout("demo"), **COARSE)


def test_nominal_fields_reproduce_the_layout(demo):
    f = demo.fields()
    assert f.total_power(demo.grid) == pytest.approx(demo.stack.total_power, rel=1e-12)
    # homogenised materials come out as the loader homogenised them
    for name in ("c4:c4", "microbumps:microbump", "hbm:hbm0"):
        m = demo.stack.material(name)
        mask = demo.grid.material == demo.grid.material_names.index(name)
        assert mask.any()
        assert np.asarray(f.kz)[mask] == pytest.approx(m.kz, rel=1e-12)
        assert np.asarray(f.kx)[mask] == pytest.approx(m.kx, rel=1e-12)
    # every parent of a homogenised material is a parameter
    assert {"sac305", "underfill", "copper", "silicon"} <= set(demo.params.conductivity)
    assert not any(":" in name for name in demo.params.conductivity)


def test_parent_conductivity_rehomogenises(demo):
    p = demo.params
    k = dict(p.conductivity)
    k["sac305"] = k["sac305"] * 10
    f = demo.fields(p.replace(conductivity=k))
    c4 = demo.stack.material("c4:c4")
    ic = demo.stack.layer("c4").interconnect
    assert ic.material == "sac305"
    sac = dataclasses.replace(cd.BUILTIN_MATERIALS["sac305"], kx=580.0, ky=580.0, kz=580.0)
    want = homogenise_interconnect(ic, sac, demo.stack.material(ic.fill), name="x")
    mask = demo.grid.material == demo.grid.material_names.index("c4:c4")
    assert np.asarray(f.kz)[mask] == pytest.approx(want.kz, rel=1e-12)
    assert want.kz > 3 * c4.kz


def test_sweep_of_a_parent_matches_a_direct_solve():
    """A sweep of sac305's conductivity changes the junctions as much as a re-built stack does (it
    used to change no field at all)."""
    from codesign.explore.sweep import evaluate_variants, loads_sweep_spec

    spec = loads_sweep_spec(textwrap.dedent("""
        layout = "demo"
        [mesh]
        max_lateral_size = "4 mm"
        min_lateral_size = "4 mm"
        grading = 1.0
        [[parameters]]
        kind = "conductivity"
        target = "sac305"
        scale = [1.0, 10.0]
    """), source="t.toml")
    rows = evaluate_variants(spec, [{spec.parameters[0].label: 1.0}, {spec.parameters[0].label: 10.0}])
    base, hot = rows
    stack = cd.load_layout("demo")
    text = (ROOT / "layouts" / "demo.toml").read_text()
    assert "sac305" in text
    modified = cd.loads_layout(text + textwrap.dedent("""
        [materials.sac305]
        conductivity = "580 W/m/K"
        heat_capacity = "1.702 MJ/m^3/K"
        source = "test: sac305 x 10"
    """), source="demo-sac305x10.toml")
    direct = cd.analyse(cd.build(modified, **COARSE))
    nominal = cd.analyse(cd.build(stack, **COARSE))
    for c in direct.chiplets:
        d_sweep = hot["tj_C"][c.name] - base["tj_C"][c.name]
        d_direct = c.junction - nominal.chiplet(c.name).junction
        assert d_sweep == pytest.approx(d_direct, abs=1e-6)
    assert max(abs(hot["tj_C"][n] - base["tj_C"][n]) for n in base["tj_C"]) > 0.05


def test_sweep_of_a_homogenised_material_is_refused():
    from codesign.explore.sweep import loads_sweep_spec

    with pytest.raises(cd.InputFileError, match="homogenised from sac305"):
        loads_sweep_spec('layout = "demo"\n[[parameters]]\nkind = "conductivity"\ntarget = "c4:c4"\n'
                         'scale = [1.0, 2.0]\n', source="t.toml")


def test_params_replace_rejects_unknown_keys(demo):
    with pytest.raises(cd.ModelError, match="unknown key"):
        demo.params.replace(power={"nonexistent": 1.0})
    with pytest.raises(cd.ModelError, match="unknown field"):
        demo.params.replace(powers={})


def test_gradient_matches_central_differences(demo):
    """jax.grad of a junction temperature through Model.solve = central differences."""
    p0 = demo.params
    hot = max(demo.stack.chiplets, key=lambda c: c.total_power).name

    def tj(p):
        sol = demo.solve(p, solver=solvers.MultigridCG(rtol=1e-11))
        return demo.junctions(sol.temperature)[hot]

    p = jax.tree_util.tree_map(jnp.asarray, p0)
    g = jax.grad(tj)(p)

    def fd(update, step):
        plus, minus = update(step), update(-step)
        return (float(tj(plus)) - float(tj(minus))) / (2 * step)

    key = hot
    d_power = fd(lambda s: p0.replace(power={**p0.power, key: p0.power[key] + s}), 1.0)
    assert float(g.power[key]) == pytest.approx(d_power, rel=1e-5)
    d_h = fd(lambda s: p0.replace(h={**p0.h, "top": p0.h["top"] + s}), 50.0)
    assert float(g.h["top"]) == pytest.approx(d_h, rel=1e-4)
    # a parent of homogenised materials (through the homogenisation formulas)
    k = p0.conductivity["sac305"]
    d_k = fd(lambda s: p0.replace(conductivity={**p0.conductivity, "sac305": k + s}), 0.1)
    assert float(jnp.sum(g.conductivity["sac305"])) == pytest.approx(d_k, rel=1e-4, abs=1e-9)
    assert float(g.power[key]) > 0 and float(g.h["top"]) < 0


def test_vmap_matches_a_loop(demo):
    p0 = demo.params
    scales = np.array([0.5, 1.0, 1.5])
    batch = jax.tree_util.tree_map(lambda *a: jnp.stack([jnp.asarray(x) for x in a]),
                                   *[p0.scale_power(s) for s in scales])
    sols = jax.vmap(lambda p: demo.solve(p, throw=False))(batch)
    assert np.asarray(sols.temperature).shape == (3,) + demo.grid.node_shape
    for i, s in enumerate(scales):
        one = demo.solve(p0.scale_power(s))
        np.testing.assert_allclose(np.asarray(sols.temperature[i]), np.asarray(one.temperature), rtol=1e-9)
    assert bool(np.all(np.asarray(sols.converged)))


def test_junctions_equal_region_statistics(demo):
    sol = demo.solve()
    stats = solvers.region_statistics(demo.grid, np.asarray(sol.temperature))
    tj = demo.junctions(np.asarray(sol.temperature))
    for c in demo.stack.chiplets:
        assert float(tj[c.name]) == stats[demo.chiplet_regions[c.name]]["max"]


def test_reference_solver_is_the_same_model(demo):
    a = cd.analyse(demo)
    b = cd.analyse(demo, solver=solvers.ReferenceAMG())
    for c in a.chiplets:
        assert b.chiplet(c.name).junction == pytest.approx(c.junction, abs=1e-5)
    assert a.solver["relative_residual"] <= 1e-8 and b.solver["relative_residual"] <= 1e-8
    assert type(a) is type(b)


def _leaky():
    from tests.test_electrothermal import v6_layout

    return v6_layout()


def test_analyse_includes_leakage_like_run_layout():
    stack = _leaky()
    # without the error estimate (on by default; tests/test_accuracy.py): it would compile programs for two coarser grids
    a = cd.analyse(stack, accuracy=False)
    r = cd.run_layout(stack, derating=False, ppac=False, accuracy=False)
    assert a.leakage and a.leakage["cpu"] > 0
    assert a.chiplet("cpu").junction == pytest.approx(r.thermal.chiplet("cpu").junction, abs=1e-6)
    dyn_only = cd.analyse(stack, leakage=False, accuracy=False)
    assert dyn_only.chiplet("cpu").junction < a.chiplet("cpu").junction
    assert "leakage not included" in dyn_only.solver["note"]


def test_electrothermal_and_derating_set_up_once(monkeypatch):
    """The fixed point and every derating evaluation reuse ONE solver set-up."""
    calls = []
    original = solvers.MultigridCG.init

    def counting(self, grid, fields):
        calls.append(1)
        return original(self, grid, fields)

    monkeypatch.setattr(solvers.MultigridCG, "init", counting)
    from tests.test_electrothermal import v6_layout

    r = cd.run_layout(v6_layout(tj_max=90), ppac=False, accuracy=False)  # the estimate's coarse grids: not under test
    # several solves: the root find's coupled solves, or superposition's linear solves (issue 13)
    assert r.derating is not None and (r.derating.linear_solves or r.derating.evaluations) >= 3
    assert len(calls) == 1


def leaky_demo():
    """The demo layout with leakage on the logic die (a multi-material stack where CG iterates)."""
    text = (ROOT / "layouts" / "demo.toml").read_text().replace(
        'name = "logic"', 'name = "logic"\n  leakage = { reference_power = "10 W", reference_temperature = "85 degC", '
                          'coefficient = "0.02 1/K" }', 1)
    return cd.loads_layout(text, source="demo-leaky.toml")


def test_coupled_transient_reports_measured_residuals():
    stack = cd.build(leaky_demo(), **COARSE)
    trace = (np.array([0.0, 0.1]), ["logic"], np.array([[100.0], [20.0]]))
    loose = cd.analyse_transient(stack, trace, duration=0.2, dt=0.02, solver=solvers.MultigridCG(rtol=1e-5))
    tight = cd.analyse_transient(stack, trace, duration=0.2, dt=0.02, solver=solvers.MultigridCG(rtol=1e-10))
    for r, rtol in ((loose, 1e-5), (tight, 1e-10)):
        assert 0 < r.solver["max_relative_residual"] <= rtol
        assert r.solver["converged"] is True
        assert "leakage_W" in r.solver
    assert loose.solver["max_relative_residual"] != tight.solver["max_relative_residual"]


def test_unknown_names_are_model_errors_and_key_errors(demo):
    for lookup in (demo.stack.layer, demo.stack.chiplet, demo.stack.material):
        with pytest.raises(cd.UnknownNameError, match="no .*'nope'.* are ") as e:
            lookup("nope")
        assert isinstance(e.value, KeyError) and isinstance(e.value, cd.CodesignError)
        assert not str(e.value).startswith("'")  # the message, not KeyError's quoted repr


def test_transient_step_count_is_capped_before_allocating(demo):
    with pytest.raises(cd.ModelError, match="max_steps"):
        cd.analyse_transient(demo, duration=1.0, dt=1e-15)
