"""Mechanical material data, homogenisation of elastic constants and CTEs, thermal strain through
Tg, the process history and the parameter -> mechanical-field map (no elastic solve here)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import codesign as cd
from codesign.homogenise import fibre_composite, laminate_mechanics
from codesign.materials import BUILTIN_MATERIALS
from codesign.mechanics import (KELVIN, WarpageSpec, default_steps, glass_transition, layer_stress_free,
                                plain_mechanics, thermal_strain)


def iso(E, nu, a):
    return (E, E, E), (nu, nu, nu), (E / (2 * (1 + nu)),) * 3, (a, a, a)


# -- material data ------------------------------------------------------------------------------
def test_every_builtin_material_has_sourced_mechanics():
    for name, m in BUILTIN_MATERIALS.items():
        assert m.has_mechanics, name
        assert len(m.mechanical_source) > 20, name
        e, nu, g, a = plain_mechanics(m)
        assert all(x > 0 for x in e + g), name
        assert all(-1 < x < 1 for x in nu), name
    # Tg of the polymers: E and CTE above and below
    for name in ("underfill", "mold"):
        m = BUILTIN_MATERIALS[name]
        assert m.glass_transition is not None
        e1, _, _, a1 = plain_mechanics(m)
        e2, _, _, a2 = plain_mechanics(m, above_tg=True)
        assert e2[0] < e1[0] / 5 and a2[0] > 2 * a1[0]


def test_isotropic_shear_modulus_and_silicon_reciprocity():
    e, nu, g, _ = plain_mechanics(BUILTIN_MATERIALS["copper"])
    assert g[0] == pytest.approx(125e9 / (2 * 1.34))
    # Hopcroft et al. (2010): nu_zx = 0.28 follows from nu_xz = 0.36 and Ez/Ex = 130/169
    e, nu, g, _ = plain_mechanics(BUILTIN_MATERIALS["silicon"])
    assert nu[2] * e[2] / e[0] == pytest.approx(0.28, abs=0.005)


# -- homogenisation -----------------------------------------------------------------------------
def test_fibre_composite_hand_computed():
    # f = 0.25; columns E 100 GPa, nu 0.3, 17 ppm/K in a fill of 10 GPa, 0.35, 30 ppm/K:
    #   Ez = 0.25*100 + 0.75*10 = 32.5 GPa (Voigt)
    #   Halpin-Tsai xi=2: eta = (10-1)/(10+2) = 0.75; Ex = 10 (1 + 2*0.75*0.25)/(1 - 0.75*0.25) = 16.923 GPa
    #   az = (0.25*100*17 + 0.75*10*30)/32.5 = 20.0 ppm/K (Schapery / Turner)
    #   nu_zx = 0.25*0.3 + 0.75*0.35 = 0.3375
    #   ax = 1.3*17*0.25 + 1.35*30*0.75 - 20*0.3375 = 29.15 ppm/K (Schapery)
    #   G_xz: eta = (Gc/Gm - 1)/(Gc/Gm + 1), Gc = 100/2.6, Gm = 10/2.7
    e, nu, g, a = fibre_composite(0.25, iso(100e9, 0.3, 17e-6), iso(10e9, 0.35, 30e-6))
    assert e[2] == pytest.approx(32.5e9)
    assert e[0] == e[1] == pytest.approx(10e9 * 1.375 / 0.8125)
    assert a[2] == pytest.approx(20.0e-6)
    assert a[0] == a[1] == pytest.approx(29.15e-6)
    assert nu[1] == nu[2] == pytest.approx(0.3375 * e[0] / e[2])
    gc, gm = 100e9 / 2.6, 10e9 / 2.7
    eta = (gc / gm - 1) / (gc / gm + 1)
    assert g[2] == pytest.approx(gm * (1 + 0.25 * eta) / (1 - 0.25 * eta))


@pytest.mark.parametrize("name", ["sac305", "silicon", "organic_substrate"])
def test_homogenisation_of_one_material_is_that_material(name):
    m = plain_mechanics(BUILTIN_MATERIALS[name])
    for f in (0.0, 0.3):
        got = fibre_composite(f, m, m)
        for part, ref in zip(got, m):
            np.testing.assert_allclose(part, ref, rtol=1e-12)
    got = laminate_mechanics([(1e-5, m), (3e-5, m)])
    for part, ref in zip(got, m):
        np.testing.assert_allclose(part, ref, rtol=1e-12)


def test_transverse_modulus_between_reuss_and_voigt():
    c, m = iso(51e9, 0.36, 21e-6), iso(8.5e9, 0.35, 30e-6)
    for f in np.linspace(0.02, 0.7, 8):
        ex = fibre_composite(f, c, m)[0][0]
        reuss = 1 / (f / 51e9 + (1 - f) / 8.5e9)
        voigt = f * 51e9 + (1 - f) * 8.5e9
        assert reuss < ex < voigt


def test_laminate_hand_computed():
    # 10 um of 100 GPa / 20 ppm/K over 30 um of 10 GPa / 40 ppm/K (isotropic, nu 0.3):
    #   Ex = (10*100 + 30*10)/40 = 32.5 GPa; Ez = 40/(10/100 + 30/10) = 12.903 GPa
    #   ax = (10*100*20 + 30*10*40)/(10*100 + 30*10) = 24.615 ppm/K (Turner); az = (10*20 + 30*40)/40 = 35 ppm/K
    e, nu, g, a = laminate_mechanics([(10e-6, iso(100e9, 0.3, 20e-6)), (30e-6, iso(10e9, 0.3, 40e-6))])
    assert e[0] == pytest.approx(32.5e9)
    assert e[2] == pytest.approx(40 / (0.1 + 3.0) * 1e9)
    assert a[0] == pytest.approx(32000 / 1300 * 1e-6)
    assert a[2] == pytest.approx(35e-6)
    assert nu[0] == pytest.approx(0.3)


# -- thermal strain through Tg -------------------------------------------------------------------
def test_thermal_strain_integrates_the_cte_through_tg():
    a1, a2, tg = 30e-6, 100e-6, 393.15
    t0, t = 423.15, 298.15  # cure above Tg, cool to room
    # integral by hand: (tg - t0) * a2 + (t - tg) * a1
    assert thermal_strain(a1, a2, tg, t0, t) == pytest.approx(a2 * (tg - t0) + a1 * (t - tg))
    # numerically
    ts = np.linspace(t0, t, 20001)
    alpha = np.where(ts > tg, a2, a1)
    assert thermal_strain(a1, a2, tg, t0, t) == pytest.approx(np.trapezoid(alpha, ts), rel=1e-4)
    # below Tg the law is linear
    assert thermal_strain(a1, a2, tg, 300.0, 350.0) == pytest.approx(50 * a1)


# -- process history -----------------------------------------------------------------------------
def test_default_steps_bond_every_layer_once():
    stack = cd.load_layout("h100_cowos_s")
    steps = default_steps(stack)
    per = layer_stress_free(stack, steps)
    assert set(per) == {layer.name for layer in stack.layers}
    assert per["lid"] == pytest.approx(150 + KELVIN)
    with pytest.raises(cd.ModelError, match="bonded by no step"):
        layer_stress_free(stack, steps[1:])


# -- the design model's mechanical-field map ----------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    return cd.build(cd.load_layout("demo"), max_lateral_size=3e-3)


def test_params_hold_plain_mechanics_and_homogenised_layers_follow(demo):
    p = demo.params
    assert {"sac305", "underfill", "copper", "silicon"} <= set(p.youngs_modulus)
    assert "microbumps:microbump" not in p.youngs_modulus  # derived, not a parameter
    props = demo.mechanical_properties()
    base = props["microbumps:microbump"][3][2]
    p2 = p.replace(cte={**p.cte, "sac305": p.cte["sac305"] * 2})
    assert demo.mechanical_properties(p2)["microbumps:microbump"][3][2] > base * 1.2


def test_elastic_fields_per_element(demo):
    g = demo.grid
    room, cure = 25 + KELVIN, 150 + KELVIN
    f = demo.elastic_fields(temperature=room, stress_free=cure)
    assert f.E.shape == (3,) + g.shape and f.alpha_dT.shape == (3,) + g.shape
    si = g.material == g.material_names.index("silicon")
    np.testing.assert_allclose(f.E[:, si][:, 0], [169e9, 169e9, 130e9])
    np.testing.assert_allclose(f.alpha_dT[0][si], 2.6e-6 * (room - cure))
    # underfill: cured above Tg, so the strain runs through the glass transition
    uf = g.material == g.material_names.index("underfill")
    if uf.any():
        tg = BUILTIN_MATERIALS["underfill"].glass_transition
        np.testing.assert_allclose(f.alpha_dT[0][uf], 100e-6 * (tg - cure) + 30e-6 * (room - tg))
    # at reflow the polymers are rubbery
    hot = demo.elastic_fields(temperature=260 + KELVIN, stress_free=cure)
    mold = g.material == g.material_names.index("mold")
    np.testing.assert_allclose(hot.E[0][mold], 1.2e9)
    # the Tg of a homogenised layer is its polymer fill's
    assert glass_transition(demo.stack.material("microbumps:microbump"), demo.stack) == pytest.approx(tg)


def test_elastic_fields_are_differentiable(demo):
    jax.config.update("jax_enable_x64", True)
    g = demo.grid
    sub = g.material == g.material_names.index("organic_substrate")  # used by no homogenised layer

    def total(cte_cu):
        p = demo.params.replace(cte={**demo.params.cte, "organic_substrate": cte_cu})
        return jnp.sum(demo.elastic_fields(p, temperature=300.0, stress_free=400.0).alpha_dT[0])

    grad = jax.jit(jax.grad(total))(jnp.asarray(demo.params.cte["organic_substrate"]))
    assert float(grad[0]) == pytest.approx(-100.0 * sub.sum())


def test_material_without_mechanics_is_a_clear_error():
    text = open(cd.layout_io.__file__.replace("codesign/layout_io.py", "layouts/demo.toml")).read()
    stack = cd.loads_layout(text)
    bare = cd.Material("silicon", 148.0, 148.0, 148.0, 1.66e6)
    stack = stack.__class__(**{**stack.__dict__, "materials": tuple(bare if m.name == "silicon" else m
                                                                    for m in stack.materials)})
    model = cd.build(stack, max_lateral_size=4e-3)
    with pytest.raises(cd.ModelError, match="'silicon' has no mechanical data"):
        model.elastic_fields(temperature=300.0, stress_free=400.0)


# -- layout keys ----------------------------------------------------------------------------------
_BASE = """
schema = 1
name = "t"
[materials]
{mat}
[package]
size = ["10 mm", "10 mm"]
[boundaries.top]
heat_transfer_coefficient = "1e4 W/m^2/K"
ambient = "25 degC"
[boundaries.bottom]
kind = "adiabatic"
[[layers]]
name = "top"
material = "{name}"
thickness = "1 mm"
[[layers]]
name = "bottom"
material = "copper"
thickness = "1 mm"
{warpage}
"""


def load(mat="", name="copper", warpage=""):
    return cd.loads_layout(_BASE.format(mat=mat, name=name, warpage=warpage))


def test_layout_mechanical_keys():
    s = load('steel = { conductivity = "15 W/m/K", heat_capacity = "3.8 MJ/m^3/K", youngs_modulus = "193 GPa", '
             'poisson_ratio = "0.29", cte = "17.3 ppm/K", mechanical_source = "AISI 304 datasheet" }', name="steel")
    m = s.material("steel")
    assert m.youngs_modulus == (193e9,) * 3 and m.cte == pytest.approx((17.3e-6,) * 3)
    # a built-in name keeps its mechanics unless overridden
    s = load('copper = { conductivity = "390 W/m/K", heat_capacity = "3.4 MJ/m^3/K", cte = "17 ppm/K" }')
    assert s.material("copper").youngs_modulus == BUILTIN_MATERIALS["copper"].youngs_modulus
    assert s.material("copper").cte == pytest.approx((17e-6,) * 3)


@pytest.mark.parametrize("mat, where, what", [
    ('x = { conductivity = "1 W/m/K", heat_capacity = "1 MJ/m^3/K", youngs_modulus = "10 GPa" }',
     "materials.x", "poisson_ratio, cte missing"),
    ('x = { conductivity = "1 W/m/K", heat_capacity = "1 MJ/m^3/K", youngs_modulus = "10 GW", poisson_ratio = "0.3", '
     'cte = "10 ppm/K" }', "materials.x.youngs_modulus", "expected a modulus"),
    ('x = { conductivity = "1 W/m/K", heat_capacity = "1 MJ/m^3/K", youngs_modulus = "10 GPa", poisson_ratio = "0.7", '
     'cte = ["1 ppm/K", "2 ppm/K"] }', "materials.x.cte", "three values"),
    ('x = { conductivity = "1 W/m/K", heat_capacity = "1 MJ/m^3/K", youngs_modulus = "10 GPa", poisson_ratio = "0.3", '
     'cte = "10 ppm/K", cte_above_tg = "50 ppm/K" }', "materials.x.cte_above_tg", "need glass_transition"),
])
def test_layout_mechanical_errors(mat, where, what):
    with pytest.raises(cd.LayoutError) as e:
        load(mat, name="x")
    assert where in str(e.value) and what in str(e.value)


def test_layout_warpage_table():
    s = load(warpage='[warpage]\nreflow_peak = "245 degC"\ncoplanarity_limit = "150 um"\nsupport = "simply_supported"\n'
                     '[[warpage.steps]]\nname = "bond"\ntemperature = "217 degC"\nlayers = ["top", "bottom"]\n')
    w = s.warpage
    assert isinstance(w, WarpageSpec)
    assert w.reflow_peak == pytest.approx(245 + KELVIN) and w.coplanarity_limit == pytest.approx(150e-6)
    assert w.reflow_coplanarity_limit == pytest.approx(150e-6) and w.limit_source == "layout"
    assert w.steps[0].layers == ("top", "bottom") and w.support == "simply_supported"
    with pytest.raises(cd.LayoutError, match=r"warpage.steps: layer\(s\) \['bottom'\] are bonded by no step"):
        load(warpage='[warpage]\n[[warpage.steps]]\nname = "a"\ntemperature = "150 degC"\nlayers = ["top"]\n')
    with pytest.raises(cd.LayoutError, match=r"warpage.steps\[0\].layers: unknown layer 'botom'; did you mean"):
        load(warpage='[warpage]\n[[warpage.steps]]\nname = "a"\ntemperature = "150 degC"\nlayers = ["top", "botom"]\n')
    with pytest.raises(cd.LayoutError, match="warpage.support: unknown value 'clamped'"):
        load(warpage='[warpage]\nsupport = "clamped"\n')
    assert not math.isnan(WarpageSpec().coplanarity_limit)


# -- board support: the BGA recipe, the board layers, the [warpage.board] table ---------------------
def test_ball_grid_column_shear_hand_computed():
    """Balls in open space: G_xz = k h / p^2 of a clamped-clamped Timoshenko column (mechanics docstring)."""
    from codesign.mechanics import BallGridRecipe
    from codesign.stack import Interconnect

    # SAC305 (E 51 GPa, nu 0.36, G = 51/2.72 = 18.75 GPa), d 0.6 mm, h 0.45 mm, p 1 mm:
    #   I = pi 0.6^4 / 64 = 6.3617e-3 mm^4, A = pi 0.36 / 4 = 0.28274 mm^2, kappa = 6*1.36/9.16 = 0.89083
    #   bending h^3/(12 E I) = 0.091125 / (12 * 51000 * 6.3617e-3) = 2.3405e-5 mm/N
    #   shear h/(kappa G A) = 0.45 / (0.89083 * 18750 * 0.28274) = 9.5287e-5 mm/N
    #   k = 1 / 1.18692e-4 = 8425.2 N/mm;  G_xz = k h / p^2 = 3791.3 N/mm^2 = 3.791 GPa
    ic = Interconnect("bga", pitch=1e-3, diameter=0.6e-3, material="sac305", fill="air")
    r = BallGridRecipe(ic, 0.45e-3)
    mech = {n: plain_mechanics(BUILTIN_MATERIALS[n]) for n in ("sac305", "air", "underfill")}
    e, nu, g, a = r.mechanical(mech.__getitem__)
    assert g[1] == g[2] == pytest.approx(3.7913e9, rel=2e-4)
    # along z the balls act in parallel: f E = (pi 0.09) * 51 GPa (+ the air placeholder)
    assert e[2] == pytest.approx(math.pi * 0.09 * 51e9 + (1 - math.pi * 0.09) * 1e6)
    # in plane the array has (almost) no membrane stiffness; its CTE along z is the solder's
    assert e[0] < 1e-3 * e[2] and a[2] == pytest.approx(21e-6, rel=1e-3)
    # a stiff board-level underfill: the fill-matrix (Halpin-Tsai) value is the larger and stays
    ic2 = Interconnect("bga", pitch=1e-3, diameter=0.6e-3, material="sac305", fill="underfill")
    g_ht = fibre_composite(math.pi * 0.09, mech["sac305"], mech["underfill"])[2][1]
    g2 = BallGridRecipe(ic2, 0.45e-3).mechanical(mech.__getitem__)[2][1]
    assert g2 == max(g_ht, r.column_shear_modulus(mech["sac305"]))


def test_engelmaier_hand_computed():
    from codesign.mechanics import engelmaier_cycles, engelmaier_exponent

    # c = -0.442 - 6e-4 * 50 + 1.74e-2 ln 2 = -0.459939; N_f = 0.5 (0.01 / 0.65)^(1/c)
    #   ln(0.01/0.65) = -4.174387; / c = 9.075966; e^9.075966 = 8742.5; N_f = 4371.3
    assert engelmaier_exponent(50.0, 1.0) == pytest.approx(-0.459939, abs=1e-6)
    assert engelmaier_cycles(0.01, 50.0, 1.0) == pytest.approx(4371.3, rel=1e-4)
    # a larger strain range or a hotter joint: fewer cycles; no cycling strain: no fatigue
    assert engelmaier_cycles(0.02, 50.0) < engelmaier_cycles(0.01, 50.0) > engelmaier_cycles(0.01, 100.0)
    assert engelmaier_cycles(0.0, 50.0) == math.inf
    with pytest.raises(cd.ModelError, match="outside the model's range"):
        engelmaier_cycles(0.01, 50.0, 5000.0)
    with pytest.raises(cd.ModelError, match="not a finite number"):
        engelmaier_cycles(float("nan"), 50.0)


def test_with_board_appends_joints_and_board():
    from codesign.mechanics import BOARD_LAYERS, BoardSpec, has_board, with_board, without_board

    s = load()
    b = with_board(s, BoardSpec(thickness=1e-3))
    assert [layer.name for layer in b.layers] == ["top", "bottom", *BOARD_LAYERS] and has_board(b)
    joints, board = b.layers[-2:]
    assert joints.interconnect.kind == "bga" and joints.extent == s.layers[-1].extent
    assert board.thickness == 1e-3 and board.material == "pcb" and board.extent == s.package
    assert b.material("bga_joints:bga").recipe.height == BoardSpec().ball_height
    assert {"pcb", "sac305", "air"} <= {m.name for m in b.materials}
    assert with_board(b) is b and without_board(b).layers == s.layers
    with pytest.raises(cd.ModelError, match=r"\[warpage.board\] material: unknown material 'fr5'"):
        with_board(s, BoardSpec(material="fr5"))
    with pytest.raises(cd.ModelError, match="ball_diameter 1.2 mm is not below ball_pitch 1 mm"):
        with_board(s, BoardSpec(ball_diameter=1.2e-3))
    # the board-assembly step: joints and board stress-free at the SAC305 solidus, the package as before
    from codesign.warpage import stress_free_temperature

    m = cd.build(b)
    t0, steps, defaults = stress_free_temperature(m, WarpageSpec(support="board"))
    assert defaults and steps[-1].name == "board_assembly" and steps[-1].layers == BOARD_LAYERS
    zc = m.grid.element_centres()[2]
    assert np.all(t0[:, :, zc < m.layer_z["bga_joints"][1]] == pytest.approx(217 + KELVIN))
    assert np.all(t0[:, :, zc > m.layer_z["bottom"][0]] == pytest.approx(150 + KELVIN))


def test_layout_warpage_board_table():
    s = load(warpage='[warpage]\nsupport = "board"\nfatigue_cycles_per_day = 4\n[warpage.board]\nthickness = "2.4 mm"\n'
                     'ball_pitch = "0.8 mm"\nball_diameter = "0.45 mm"\nfill = "underfill"\n')
    b = s.warpage.board
    assert s.warpage.support == "board" and s.warpage.fatigue_cycles_per_day == 4
    assert b.thickness == pytest.approx(2.4e-3) and b.ball_pitch == pytest.approx(0.8e-3)
    assert b.fill == "underfill" and b.material == "pcb" and b.source == "layout"
    assert "pcb" in {m.name for m in s.materials}  # kept for the board although no layer uses it
    # support = "board" without a table: the default board
    assert load(warpage='[warpage]\nsupport = "board"\n').warpage.board.thickness == pytest.approx(1.6e-3)
    for table, where, what in [
        ('support = "board"\n[warpage.board]\nmaterial = "fr5"\n', "warpage.board.material", "unknown material 'fr5'"),
        ('support = "board"\n[warpage.board]\nball_diameter = "1.1 mm"\n', "warpage.board.ball_diameter",
         "is not below the ball pitch"),
        ('support = "board"\n[warpage.board]\nthickness = "-1 mm"\n', "warpage.board.thickness", "must be positive"),
        ('support = "board"\n[warpage.board]\nheight = "1 mm"\n', "warpage.board", "height"),
        ('[warpage.board]\nthickness = "1 mm"\n', "warpage.board", 'set support = "board"'),
        ('fatigue_cycles_per_day = 2000\n', "warpage.fatigue_cycles_per_day", "above 1000"),
    ]:
        with pytest.raises(cd.LayoutError) as e:
            load(warpage="[warpage]\n" + table)
        assert where in str(e.value) and what in str(e.value), str(e.value)
