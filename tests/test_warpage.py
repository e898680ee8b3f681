"""Warpage on the design model: a bilayer plate against Timoshenko's bimetal curvature (through
the whole chain: layout -> materials -> fields -> solve -> coplanarity with sign), the analysis of
a shipped layout, gradients against central differences, and the command.

The elastic solver itself is verified in tests/solvers/test_elasticity.py (part A of issue 15)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

import codesign as cd
from codesign.mechanics import KELVIN

# A 10 x 10 mm plate: 100 um "film" (isotropic silicon-like) on 100 um copper, L/h = 50.
_PLATE = """
schema = 1
name = "bilayer"
[materials.film]
conductivity = "148 W/m/K"
heat_capacity = "1.66 MJ/m^3/K"
youngs_modulus = "130 GPa"
poisson_ratio = "0.28"
cte = "2.6 ppm/K"
mechanical_source = "test: isotropic silicon-like film"
[package]
size = ["10 mm", "10 mm"]
[boundaries.top]
heat_transfer_coefficient = "1e4 W/m^2/K"
ambient = "25 degC"
[boundaries.bottom]
kind = "adiabatic"
[[layers]]
name = "film"
material = "film"
thickness = "{h1} um"
cells = 2
[[layers]]
name = "base"
material = "copper"
thickness = "{h2} um"
cells = 2
[warpage]
[[warpage.steps]]
name = "bond"
temperature = "150 degC"
layers = ["film", "base"]
[mesh]
max_lateral_size = "0.5 mm"
"""


def timoshenko_curvature(e1, nu1, a1, h1, e2, nu2, a2, h2, dT):
    """Timoshenko (1925) bimetal curvature, biaxial (plate moduli E/(1-nu)); layer 1 on top.

    Positive when the top becomes convex (centre up), i.e. when the bottom layer shrinks more.
    """
    m, n = h1 / h2, (e1 / (1 - nu1)) / (e2 / (1 - nu2))
    h = h1 + h2
    return 6 * (a2 - a1) * (-dT) * (1 + m) ** 2 / (h * (3 * (1 + m) ** 2 + (1 + m * n) * (m ** 2 + 1 / (m * n))))


@pytest.mark.slow  # ~25 s, most of it compiling the elastic solver for this grid (137 s on the loaded 2-core box)
def test_bilayer_plate_matches_timoshenko_with_sign():
    jax.config.update("jax_enable_x64", True)
    model = cd.build(cd.loads_layout(_PLATE.format(h1=100, h2=100)))
    room = 25 + KELVIN
    w = float(cd.signed_warpage(model, temperature=room))
    kappa = timoshenko_curvature(130e9, 0.28, 2.6e-6, 100e-6, 125e9, 0.34, 16e-6, 100e-6, room - (150 + KELVIN))
    expected = kappa * (10e-3) ** 2 / 4  # a paraboloid kappa r^2 / 2 over the square: centre to corner
    assert kappa > 0 and w > 0  # the copper below shrinks more on cooling: a dome, "cry"
    # Timoshenko holds away from the free edges, whose boundary layer is about a thickness wide
    # (1 % of the side at L/h = 50): the 1 % tolerance. Measured: 314.006 um against
    # 314.018 um.
    assert w == pytest.approx(expected, rel=0.01)
    # heating above the stress-free state reverses the sign ("smile")
    assert float(cd.signed_warpage(model, temperature=260 + KELVIN)) < 0


@pytest.fixture(scope="module")
def demo_report():
    jax.config.update("jax_enable_x64", True)
    from codesign.warpage import REPORT_LATERAL_SIZE, warpage_model

    # the report's mesh: the program `codesign report demo` (the README's quick start) compiles too
    return cd.analyse_warpage(warpage_model(cd.load_layout("demo"), lateral_size=REPORT_LATERAL_SIZE), rtol=1e-8)


def test_report_solves_the_warpage_by_default():
    """`codesign report` includes the warpage section unless told `--no-warpage`; `codesign run` has no such flag."""
    from codesign.cli.main import build_parser

    p = build_parser()
    assert p.parse_args(["report", "demo", "-o", "out"]).warpage is True
    assert p.parse_args(["report", "demo", "-o", "out", "--no-warpage"]).warpage is False
    assert not hasattr(p.parse_args(["run", "demo"]), "warpage")


@pytest.mark.slow
def test_analyse_warpage_on_a_shipped_layout(demo_report):
    r = demo_report
    assert list(r.cases) == ["room", "reflow", "operation"]
    room, reflow, op = (r.cases[k] for k in ("room", "reflow", "operation"))
    # the process history is the default (the layout gives none) and the report says so
    assert r.defaults_used and any("default" in n for n in r.notes)
    # stress-free between room and reflow: the shape flips between the two
    assert np.sign(room.warpage) == -np.sign(reflow.warpage) != 0
    for c in (room, reflow, op):
        assert np.isfinite(c.warpage) and c.coplanarity == abs(c.warpage)
        assert 1e-6 < c.coplanarity < 2e-3
        assert set(c.chiplet_stress) == {ch.name for ch in r.model.stack.chiplets}
        assert {"microbumps", "c4"} <= set(c.bump_strain)
        assert 0 < c.bump_strain["c4"]["shear_strain"] < 0.1
        assert bool(np.asarray(c.solution.converged))
    # the corner bumps take the largest shear: far from the neutral point
    c4 = room.bump_strain["c4"]
    pkg = r.model.stack.layer("c4").extent
    assert c4["dnp"] > 0.3 * np.hypot(pkg.width, pkg.height) / 2
    d = r.to_dict()
    json.dumps(d)
    assert d["cases"]["room"]["coplanarity_um"] == pytest.approx(room.coplanarity * 1e6)
    assert "room" in r.table() and "um" in r.table()


@pytest.mark.slow
def test_gradient_matches_central_differences():
    jax.config.update("jax_enable_x64", True)
    model = cd.build(cd.loads_layout(_PLATE.format(h1=100, h2=100)))
    p0 = model.params

    def f(cte_cu, rtol=1e-8):
        p = p0.replace(cte={**p0.cte, "copper": cte_cu})
        return cd.signed_warpage(model, p, temperature=25 + KELVIN, rtol=rtol)

    a = jax.numpy.asarray(p0.cte["copper"])
    g = jax.grad(f)(a)  # the default path: rtol 1e-8, float32 V-cycle
    h = 1e-7  # 0.6 % of the CTE; the response is linear in it, so central differences are exact up to the solves' rtol
    # the differences divide the solves' error by h: solved to rtol 1e-10 (float64 V-cycle, whose
    # rounding does not add noise between the two nearby solves)
    fd = []
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        fd.append((float(f(a + e, 1e-10)) - float(f(a - e, 1e-10))) / (2 * h))
    fd = np.array(fd)
    # in-plane CTEs bend the plate; the through-thickness one only thickens it (its derivative is ~0)
    assert abs(fd[0]) > 1.0 and abs(fd[2]) < 1e-6 * abs(fd[0])
    np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-5, atol=1e-6 * abs(fd[0]))


@pytest.mark.slow
def test_warpage_command(tmp_path, capsys):
    from codesign.cli.main import main

    assert main(["warpage", "demo", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "room" in out and "reflow" in out and "operation" in out and "corner bump" in out
    data = json.loads((tmp_path / "demo_warpage.json").read_text())
    assert set(data["cases"]) == {"room", "reflow", "operation"}
    assert (tmp_path / "demo_warpage.png").stat().st_size > 10_000


# -- board support (support = "board") --------------------------------------------------------------
# The bilayer plate, 20 x 20 mm, soldered to a 0.8 mm FR-4 board through a dense, thin, shear-stiff
# ball grid (0.15 mm balls at 0.2 mm pitch, 50 um high: shear-lag length ~0.4 mm), everything
# stress-free at 150 degC.
_BOARD = (_PLATE.format(h1=100, h2=100)
          .replace('size = ["10 mm", "10 mm"]', 'size = ["20 mm", "20 mm"]')
          .replace('max_lateral_size = "0.5 mm"', 'max_lateral_size = "1 mm"')
          .replace("[warpage]\n", '[warpage]\nsupport = "board"\n[warpage.board]\nthickness = "0.8 mm"\n'
                                  'ball_pitch = "0.2 mm"\nball_diameter = "0.15 mm"\nball_height = "50 um"\n'
                                  'stress_free_temperature = "150 degC"\n'))


def _centre_curvature(model, w):
    """w'' of a paraboloid fitted to ``w`` over the central half of the plate."""
    g = model.grid
    X, Y = np.meshgrid(g.x, g.y, indexing="ij")
    cx, cy = (g.x[0] + g.x[-1]) / 2, (g.y[0] + g.y[-1]) / 2
    sel = (np.abs(X - cx) <= (g.x[-1] - g.x[0]) / 4 + 1e-12) & (np.abs(Y - cy) <= (g.y[-1] - g.y[0]) / 4 + 1e-12)
    dx, dy = X[sel] - cx, Y[sel] - cy
    A = np.stack([np.ones_like(dx), dx, dy, (dx ** 2 + dy ** 2) / 2], axis=1)
    return float(np.linalg.lstsq(A, np.asarray(w)[sel], rcond=None)[0][3])


@pytest.mark.slow  # 130 s on the 2-core box at load 8, mostly compiling the solver for this grid
def test_package_on_board_matches_laminate_theory():
    """Kirchhoff laminate (board | joints with no in-plane stiffness | copper | film) at the centre,
    less bending than the free bilayer, and no bending at all when every CTE is equal."""
    from solvers.elastic_analytic import laminate_curvature

    from codesign.warpage import package_bottom_w, solve_state, stress_free_temperature, warpage_model

    jax.config.update("jax_enable_x64", True)
    model = warpage_model(cd.loads_layout(_BOARD), lateral_size=1e-3)
    t0, steps, _ = stress_free_temperature(model)
    assert steps[-1].temperature == pytest.approx(150 + KELVIN)
    room = 25 + KELVIN
    sol = solve_state(model, None, room, t0, support="board")
    kappa = _centre_curvature(model, package_bottom_w(model, sol))
    # bottom first: pcb (Ex 25 GPa, nu_xy 0.18, 15 ppm/K), the joints (no in-plane stiffness), copper, film
    dT = room - (150 + KELVIN)
    _, expected = laminate_curvature([25e9, 1e3, 125e9, 130e9], [0.18, 0.0, 0.34, 0.28], [15e-6, 0.0, 16e-6, 2.6e-6],
                                     [0.8e-3, 50e-6, 100e-6, 100e-6], dT)
    _, free = laminate_curvature([125e9, 130e9], [0.34, 0.28], [16e-6, 2.6e-6], [100e-6, 100e-6], dT)
    # measured: -1.21898 against -1.21932 1/m (0.03 %); the free bilayer: -12.56 1/m
    assert kappa == pytest.approx(expected, rel=0.01)
    assert abs(kappa) < abs(free) / 5
    # one CTE everywhere, one stress-free temperature: a uniform temperature change bends nothing
    p = model.params
    same = p.replace(cte={k: (10e-6, 10e-6, 10e-6) for k in p.cte})
    w = cd.signed_warpage(model, same, temperature=room)
    assert abs(float(w)) < 1e-6 * abs(expected) * (20e-3) ** 2 / 4


@pytest.mark.slow  # 167 s at load 8: the board model and, for reflow, the package alone (two programs)
def test_analyse_warpage_on_a_board():
    from codesign.mechanics import engelmaier_cycles

    jax.config.update("jax_enable_x64", True)
    stack = cd.loads_layout(_BOARD)
    r = cd.analyse_warpage(stack, temperature=80 + KELVIN)  # the board is appended from the layout's [warpage]
    assert [layer.name for layer in r.model.stack.layers][-2:] == ["bga_joints", "board"]
    room, reflow, op = (r.cases[k] for k in ("room", "reflow", "operation"))
    assert room.support == "board" and reflow.support == "free" and reflow.board_warpage is None
    assert room.board_warpage is not None and "bga_joints" in room.bump_strain
    # cooled, the copper below shrinks more: a dome on the board too, flatter than the free bilayer (314 um on
    # 10 mm; about 4x that on 20 mm)
    assert 0 < room.warpage < 300e-6 and room.board_warpage > 0
    assert reflow.warpage < 0  # the package alone above its stress-free temperature: smile
    f = r.fatigue["bga_joints"]
    assert f["range"] > 0 and f["mean_temperature"] == pytest.approx((25 + 80) / 2 + KELVIN)
    assert f["cycles"] == pytest.approx(engelmaier_cycles(f["range"], f["mean_temperature"] - KELVIN, 1.0))
    d = r.to_dict()
    json.dumps(d)
    assert d["board"]["thickness_mm"] == pytest.approx(0.8) and d["solder_fatigue"]["bga_joints"]["cycles_to_failure"]
    t = r.table()
    assert "board bow, room" in t and "solder-joint fatigue" in t and "Engelmaier" in t


@pytest.mark.slow  # 199 s at load ~6: the gradient program of the board model and four solves at rtol 1e-10
def test_board_gradient_matches_central_differences():
    """d(warpage)/d(board CTE) and d/d(solder modulus, through the BGA column recipe) by AD against central differences."""
    from codesign.warpage import warpage_model

    jax.config.update("jax_enable_x64", True)
    model = warpage_model(cd.loads_layout(_BOARD), lateral_size=2e-3)
    p0 = model.params

    def f(cte_pcb, e_sac, rtol=1e-8):
        p = p0.replace(cte={**p0.cte, "pcb": cte_pcb}, youngs_modulus={**p0.youngs_modulus, "sac305": e_sac})
        return cd.signed_warpage(model, p, temperature=25 + KELVIN, rtol=rtol)

    a, e = jax.numpy.asarray(p0.cte["pcb"]), jax.numpy.asarray(p0.youngs_modulus["sac305"])
    ga, ge = jax.grad(f, argnums=(0, 1))(a, e)
    ha, he = 1e-7, 1e9
    fa = (float(f(a + jax.numpy.array([ha, 0, 0]), e, 1e-10)) - float(f(a - jax.numpy.array([ha, 0, 0]), e, 1e-10))) / (2 * ha)
    fe = (float(f(a, e + jax.numpy.array([0, 0, he]), 1e-10)) - float(f(a, e - jax.numpy.array([0, 0, he]), 1e-10))) / (2 * he)
    assert abs(fa) > 0 and abs(fe) > 0
    assert float(ga[0]) == pytest.approx(fa, rel=1e-4)
    assert float(ge[2]) == pytest.approx(fe, rel=1e-3)
