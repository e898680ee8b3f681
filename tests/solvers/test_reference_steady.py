"""Steady verification: V1 layered slab, V2 flux channel, V3 manufactured solution, V7
invariants; run over every steady solve path in ``paths.STEADY_PATHS``."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paths import STEADY_PATHS
from solvers.analytic import FluxChannel, ManufacturedBox, layered_slab_temperature
from solvers.grid import TensorGrid, ThermalFields, graded_axis
from solvers import SolveError, energy_balance
from solvers.reference import assemble, solve_reference_steady

PATHS = pytest.mark.parametrize("path", sorted(STEADY_PATHS))


def make_grid(x, y, z) -> TensorGrid:
    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    return TensorGrid(np.asarray(x), np.asarray(y), np.asarray(z), np.zeros(shape), ("all",), np.zeros(shape), ("m",))


def fit_rate(h, err) -> float:
    return float(np.polyfit(np.log(h), np.log(err), 1)[0])


# ---------------------------------------------------------------------------------------
# V1: layered slab to round-off
# ---------------------------------------------------------------------------------------

V1_T = np.array([5e-5, 2e-5, 7.75e-4, 1e-4])  # die active layer, bond, bulk die, TIM (bottom to top)
V1_K = np.array([130.0, 1.5, 150.0, 5.0])


def _v1_case(sources):
    rng = np.random.default_rng(7)
    # An arbitrary lateral grid: random non-uniform spacings.
    x = np.concatenate([[0.0], np.cumsum(rng.uniform(0.2, 1.0, 5))]) * 1e-3
    y = np.concatenate([[0.0], np.cumsum(rng.uniform(0.1, 2.0, 4))]) * 1e-3
    # Several, unequal cells per layer with nodes on every interface.
    zi = np.concatenate([[0.0], np.cumsum(V1_T)])
    z = np.unique(np.concatenate([np.linspace(a, b, n + 1) ** 1 for a, b, n in zip(zi[:-1], zi[1:], (2, 1, 5, 3))]
                                 + [zi[2] + np.array([0.1, 0.35]) * V1_T[2]]))
    grid = make_grid(x, y, z)
    zc = grid.element_centres()[2]
    layer = np.searchsorted(zi, zc) - 1
    shape = grid.shape
    k = np.broadcast_to(V1_K[layer], shape).copy()
    q = np.broadcast_to(np.asarray(sources)[layer], shape).copy()
    h, t_amb = 2e4, 318.0
    fields = ThermalFields(
        kx=k * 3.0, ky=k * 0.5, kz=k,  # lateral conductivity is irrelevant when fields are laterally uniform
        heat_capacity=np.full(shape, 1.6e6), source=q,
        h={"zmax": np.full(shape[:2], h)}, ambient={"zmax": np.full(shape[:2], t_amb)},
    )
    exact = layered_slab_temperature(z, V1_T, V1_K, heat_transfer_coefficient=h, ambient=t_amb, layer_sources=sources)
    return grid, fields, exact, t_amb


@PATHS
@pytest.mark.parametrize("case", ["bottom_layer_source", "two_layer_sources"])
def test_v1_layered_slab_to_round_off(path, case):
    sources = [4e9, 0.0, 0.0, 0.0] if case == "bottom_layer_source" else [4e9, 0.0, 2e8, 0.0]
    grid, fields, exact, t_amb = _v1_case(sources)
    T = np.asarray(STEADY_PATHS[path](grid, fields, rtol=1e-12))
    assert T.shape == grid.node_shape
    # Q1 on a 1-D layered problem with nodes on the interfaces is nodally exact (its Green's
    # function lies in the FE space), so only the linear solve (rtol 1e-12) and round-off
    # (~1e-16 · cond) remain: 1e-10 of the rise.
    rise = exact.max() - t_amb
    err = np.max(np.abs(T - exact[None, None, :]))
    assert err <= 1e-10 * rise, f"{path}: max error {err:.3e} K, rise {rise:.3f} K"


# ---------------------------------------------------------------------------------------
# V2: flux-channel series, second-order convergence
# ---------------------------------------------------------------------------------------

V2_PLATE = dict(a=10e-3, b=8e-3, t=1e-3, k=100.0, h=1e4, power=2.0, fluid_temperature=300.0)
V2_SOURCES = {"eccentric": dict(c=2e-3, d=3e-3, xc=3e-3, yc=4.5e-3), "corner": dict(c=3e-3, d=2e-3, xc=1.5e-3, yc=1e-3)}
V2_SOURCE_LAYER = 1e-4  # [m]


def _v2_case(source, level):
    """Plate on a grid of (20·2^l, 16·2^l, 2·2^l) cells with a flux-emulating layer below.

    The grid contract has volumetric sources only. The power goes into one layer of cells
    under z = 0 whose lateral conductivity is 1e-6 of k: each column of that layer passes
    its own heat straight up, so the plate sees the flux Q/(cd) on the source footprint
    (up to a 1e-6 relative leak), and the z = 0 nodes carry the plate's surface temperature.
    With Q1 the layer's load reaches the z = 0 nodes as the consistent surface load.
    """
    a, b, t = V2_PLATE["a"], V2_PLATE["b"], V2_PLATE["t"]
    n = 2**level
    x = np.linspace(0, a, 20 * n + 1)
    y = np.linspace(0, b, 16 * n + 1)
    z = np.concatenate([[-V2_SOURCE_LAYER], np.linspace(0, t, 2 * n + 1)])
    grid = make_grid(x, y, z)
    s = grid.shape
    k = V2_PLATE["k"]
    lateral = np.full(s, k)
    lateral[:, :, 0] = 1e-6 * k
    xc, yc, _ = grid.element_centres()
    foot = (np.abs(xc - source["xc"]) < source["c"] / 2)[:, None] & (np.abs(yc - source["yc"]) < source["d"] / 2)[None, :]
    q = np.zeros(s)
    q[:, :, 0] = np.where(foot, V2_PLATE["power"] / (source["c"] * source["d"] * V2_SOURCE_LAYER), 0.0)
    fields = ThermalFields(
        kx=lateral, ky=lateral.copy(), kz=np.full(s, k), heat_capacity=np.full(s, 1.6e6), source=q,
        h={"zmax": np.full(s[:2], V2_PLATE["h"])}, ambient={"zmax": np.full(s[:2], V2_PLATE["fluid_temperature"])},
    )
    return grid, fields, foot


def _v2_measure(path, source, level):
    grid, fields, foot = _v2_case(source, level)
    T = np.asarray(STEADY_PATHS[path](grid, fields))
    surface = T[:, :, 1]  # the z = 0 nodes
    i = int(np.argmin(np.abs(grid.x - source["xc"])))
    j = int(np.argmin(np.abs(grid.y - source["yc"])))
    cell_mean = 0.25 * (surface[:-1, :-1] + surface[1:, :-1] + surface[:-1, 1:] + surface[1:, 1:])  # exact for Q1
    area = grid.face_areas("zmin")
    mean = float(np.sum(cell_mean * area * foot) / np.sum(area * foot))
    return 1.0 / 2**level, float(surface[i, j]), mean


@pytest.fixture(scope="module")
def v2_series():
    return {name: FluxChannel(n_terms=800, **src, **V2_PLATE) for name, src in V2_SOURCES.items()}


def _v2_check(path, name, series, levels, finest_tol):
    fc = series[name]
    exact_c, exact_m = fc.centre_temperature(), fc.mean_source_temperature()
    rise = exact_m - V2_PLATE["fluid_temperature"]
    data = [_v2_measure(path, V2_SOURCES[name], lev) for lev in levels]
    h = np.array([d[0] for d in data])
    err_c = np.array([abs(d[1] - exact_c) for d in data])
    err_m = np.array([abs(d[2] - exact_m) for d in data])
    rate_c, rate_m = fit_rate(h, err_c), fit_rate(h, err_m)
    report = (f"{path}/{name}: centre errors {err_c / rise} rate {rate_c:.3f}; "
              f"mean errors {err_m / rise} rate {rate_m:.3f} (relative to the rise {rise:.4f} K)")
    print(report)
    # The series is settled to ~1e-5 of the rise (FluxChannel.series_change), far below the
    # FEM errors fitted here. Q1 point and mean values converge at O(h²); the mean over the
    # source also sees the flux jump at the source edge, whose r·log r singularity adds a
    # log factor (O(h² |log h|)), so its fitted rate over three coarse levels is ~1.8.
    assert abs(rate_c - 2.0) < 0.2, report
    assert 1.65 < rate_m < 2.2, report
    assert err_c[-1] < finest_tol * rise and err_m[-1] < finest_tol * rise, report


@PATHS
@pytest.mark.parametrize("name", sorted(V2_SOURCES))
def test_v2_flux_channel_second_order(path, name, v2_series):
    # Reference: levels 0..2, finest 80×64×8 cells (0.125 mm), ~3 s per source on 2 cores. The JAX
    # path compiles one program set per grid (~10 s each at level 2 on 2 cores), so the default suite
    # gives it levels 0..1; the three-level fit of the JAX path is in test_v2_flux_channel_fine (slow).
    # The finest error is O(h²): at level 1 (twice the cell size) the level-2 bound 5e-3 becomes 2e-2;
    # 1e-2 is used (measured 6.7e-3 of the rise for the mean over the eccentric source, 6e-4 at its centre).
    if path == "reference":
        _v2_check(path, name, v2_series, levels=(0, 1, 2), finest_tol=5e-3)
    else:
        _v2_check(path, name, v2_series, levels=(0, 1), finest_tol=1e-2)


@pytest.mark.slow
@PATHS
@pytest.mark.parametrize("name", sorted(V2_SOURCES))
def test_v2_flux_channel_fine(path, name, v2_series):
    # Levels 1..3: finest 160×128×16 cells (330k); the finest error falls to ~0.05 %.
    _v2_check(path, name, v2_series, levels=(1, 2, 3), finest_tol=1.5e-3)


# ---------------------------------------------------------------------------------------
# V3: manufactured solution, uniform and graded grids
# ---------------------------------------------------------------------------------------


def _bisect(c, times):
    for _ in range(times):
        c = np.sort(np.concatenate([c, 0.5 * (c[1:] + c[:-1])]))
    return c


def _v3_axes(kind, level, lengths):
    if kind == "uniform":
        base = [np.linspace(0, length, 4) for length in lengths]
    else:  # geometric grading towards both ends, ratio up to 2 between neighbours, then bisected
        base = [graded_axis([0, length], max_size=length / 3, min_size=length / 12, grading=2.0) for length in lengths]
    return [_bisect(b, level) for b in base]


#: Levels of the default-suite V3 series per path. Finest 24³ cells for the reference solver; the JAX
#: path compiles one program set per node count (the 24³ one ~10 s on 2 cores), so it stops at 12³
#: (uniform 3³..12³, graded 6³..12³: the same node counts as the uniform levels 1..2, one compile for
#: both); its series to 24³ and 48³ runs in the slow tests below. Measured rates of the cheaper series
#: (the discrete solutions are the same for both paths): uniform 0..2 l2 1.97, h1 1.12, nodal 1.68;
#: graded 0..1 l2 1.96, h1 1.08, nodal 1.82, inside the tolerances of the method below.
V3_LEVELS = {("reference", "uniform"): (0, 1, 2, 3), ("reference", "graded"): (0, 1, 2),
             ("jax", "uniform"): (0, 1, 2), ("jax", "graded"): (0, 1)}


@PATHS
@pytest.mark.parametrize("kind", ["uniform", "graded"])
def test_v3_manufactured_convergence_order(path, kind):
    _v3_check(path, kind, V3_LEVELS.get((path, kind), (0, 1, 2, 3) if kind == "uniform" else (0, 1, 2)))


@pytest.mark.slow
@PATHS
def test_v3_manufactured_uniform_to_24_cubed(path):
    # The default series of the reference path for every path: uniform levels 0..3 (finest 24³ cells).
    _v3_check(path, "uniform", (0, 1, 2, 3))


def _v3_check(path, kind, levels):
    mb = ManufacturedBox()
    h, errs = [], []
    for lev in levels:
        axes = _v3_axes(kind, lev, mb.lengths)
        grid = make_grid(*axes)
        T = np.asarray(STEADY_PATHS[path](grid, mb.fields(grid), rtol=1e-11))
        h.append(max(np.max(np.diff(a)) for a in axes))
        errs.append(mb.errors(grid, T))
    rates = {key: fit_rate(h, [e[key] for e in errs]) for key in ("l2", "h1", "max_nodal")}
    print(f"{path}/{kind}: rates {rates}; finest errors {errs[-1]}")
    # Q1 with cell-averaged data: O(h²) in L2, O(h) in H1 (the data averaging is O(h²) in the
    # dual norm). The nodal maximum sits on a boundary edge, where the piecewise-constant
    # ambient per face cell is felt pointwise: measured 1.74 (uniform) / 1.87 (graded), rising
    # towards 2 with refinement (exact Robin data gives 1.97); we check it is clearly
    # super-linear.
    assert abs(rates["l2"] - 2.0) < 0.15, rates
    assert abs(rates["h1"] - 1.0) < 0.15, rates
    assert rates["max_nodal"] > 1.6, rates


@pytest.mark.slow
@PATHS
def test_v3_manufactured_graded_fine(path):
    # Graded levels 1..3 (finest 48³ cells): the nodal maximum's rate climbs towards 2.
    mb = ManufacturedBox()
    h, errs = [], []
    for lev in (1, 2, 3):
        axes = _v3_axes("graded", lev, mb.lengths)
        grid = make_grid(*axes)
        T = np.asarray(STEADY_PATHS[path](grid, mb.fields(grid), rtol=1e-11))
        h.append(max(np.max(np.diff(a)) for a in axes))
        errs.append(mb.errors(grid, T))
    rates = {key: fit_rate(h, [e[key] for e in errs]) for key in ("l2", "h1", "max_nodal")}
    print(f"{path}/graded-fine: rates {rates}; finest errors {errs[-1]}")
    assert abs(rates["l2"] - 2.0) < 0.1 and abs(rates["h1"] - 1.0) < 0.1, rates
    assert rates["max_nodal"] > 1.8, rates


# ---------------------------------------------------------------------------------------
# V7: invariants (hypothesis) on one coarse grid
# ---------------------------------------------------------------------------------------

# A symmetric coarse grid (x nodes mirror about the centre), three layers.
_X = np.array([0.0, 1.0, 1.6, 2.5, 3.4, 4.0, 5.0]) * 1e-3
_Y = np.array([0.0, 0.8, 2.0, 3.2, 4.0]) * 1e-3
_Z = np.array([0.0, 0.1, 0.3, 0.8, 1.0]) * 1e-3
V7_GRID = make_grid(_X, _Y, _Z)
_LAYER = np.array([0, 1, 1, 2])  # layer of each z cell
T_AMB = 300.0


def v7_fields(k_layers, kx_ratio, source, h_top, h_bottom):
    s = V7_GRID.shape
    kz = np.broadcast_to(np.asarray(k_layers)[_LAYER], s).copy()
    return ThermalFields(
        kx=kz * kx_ratio, ky=kz * kx_ratio, kz=kz, heat_capacity=np.full(s, 1.6e6), source=np.asarray(source, dtype=float),
        h={"zmax": np.full(s[:2], h_top), "zmin": np.full(s[:2], h_bottom)},
        ambient={"zmax": np.full(s[:2], T_AMB), "zmin": np.full(s[:2], T_AMB)},
    )


def power_weighted_mean(T, source):
    """∫ q T dV / ∫ q dV for a Q1 field (the trilinear mean over a cell is the corner mean)."""
    T = np.asarray(T)
    nx, ny, nz = V7_GRID.shape
    cell_mean = sum(T[i : i + nx, j : j + ny, k : k + nz] for i in (0, 1) for j in (0, 1) for k in (0, 1)) / 8.0
    w = np.asarray(source) * V7_GRID.cell_volumes()
    return float(np.sum(w * cell_mean) / np.sum(w))


conductivity = st.floats(0.5, 400.0)
layer_ks = st.tuples(conductivity, conductivity, conductivity)
coefficient = st.floats(1e2, 1e5)


@st.composite
def sources(draw, symmetric=False):
    s = V7_GRID.shape
    mask = np.array(draw(st.lists(st.booleans(), min_size=s[0] * s[1], max_size=s[0] * s[1]))).reshape(s[:2])
    if not mask.any():
        mask[2, 1] = True
    if symmetric:
        mask = mask | mask[::-1]
    q = np.zeros(s)
    q[:, :, 0] = np.where(mask, draw(st.floats(1e8, 1e10)), 0.0)
    return q


V7_SETTINGS = settings(max_examples=6, deadline=None, database=None, derandomize=True,
                       suppress_health_check=[HealthCheck.too_slow])
# Linear-solve tolerance for the invariants and what it buys: with ||K δT|| ≤ rtol ||b||,
# cond(K) ≲ 1e6 on this coarse grid at these contrasts, temperatures are right to ~1e-4 of
# the rise for rtol=1e-10 — and the global balance much better: Σ(K T - b) = 1ᵀr ≤ √N ||r||.
RTOL = 1e-10


@PATHS
@V7_SETTINGS
@given(k=layer_ks, ratio=st.floats(0.2, 5.0), q=sources(), h_top=coefficient, h_bottom=st.floats(0.0, 1e3))
def test_v7_energy_balance(path, k, ratio, q, h_top, h_bottom):
    fields = v7_fields(k, ratio, q, h_top, h_bottom)
    T = STEADY_PATHS[path](V7_GRID, fields, rtol=RTOL)
    power_in, heat_out, relative = energy_balance(V7_GRID, fields, T)
    # Constants are in the Q1 test space, so the discrete solution balances exactly up to
    # 1ᵀr ≤ √N·rtol·||b|| (N = 175 nodes, ||b|| ≤ P here): 1e-8 of P is a 7x margin.
    assert abs(power_in - sum(heat_out.values())) <= 1e-8 * power_in, (power_in, heat_out)
    assert relative <= 1e-8


@PATHS
@V7_SETTINGS
@given(k=layer_ks, q1=sources(), q2=sources(), alpha=st.floats(0.1, 10.0), h_top=coefficient)
def test_v7_superposition_and_linearity(path, k, q1, q2, alpha, h_top):
    solve = lambda q: np.asarray(STEADY_PATHS[path](V7_GRID, v7_fields(k, 1.0, q, h_top, 0.0), rtol=RTOL)) - T_AMB  # noqa: E731
    t1, t2, t12, ta = solve(q1), solve(q2), solve(q1 + q2), solve(alpha * q1)
    scale = max(np.max(np.abs(t12)), np.max(np.abs(ta)))
    # Each solve is right to ~cond·rtol relative (see RTOL): 1e-6 of the rise is ample.
    np.testing.assert_allclose(t12, t1 + t2, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(ta, alpha * t1, rtol=0, atol=1e-6 * scale)


@PATHS
@V7_SETTINGS
@given(k=layer_ks, ratio=st.floats(0.2, 5.0), q=sources(symmetric=True), h_top=coefficient)
def test_v7_mirror_symmetry(path, k, ratio, q, h_top):
    T = np.asarray(STEADY_PATHS[path](V7_GRID, v7_fields(k, ratio, q, h_top, 10.0), rtol=RTOL))
    rise = np.max(T) - T_AMB
    np.testing.assert_allclose(T, T[::-1], rtol=0, atol=1e-6 * rise)


@PATHS
@V7_SETTINGS
@given(k=layer_ks, q=sources(), h_top=coefficient, which=st.sampled_from(["layer0", "layer1", "layer2", "lateral", "h_top"]),
       factor=st.floats(1.05, 20.0))
def test_v7_more_conductance_never_heats(path, k, q, h_top, which, factor):
    base = v7_fields(k, 1.0, q, h_top, 0.0)
    if which == "h_top":
        raised = v7_fields(k, 1.0, q, h_top * factor, 0.0)
    elif which == "lateral":
        raised = v7_fields(k, factor, q, h_top, 0.0)
    else:
        kk = list(k)
        kk[int(which[-1])] *= factor
        raised = v7_fields(kk, 1.0, q, h_top, 0.0)
        # keep the lateral conductivities of the other layers as they were
        raised = raised.with_(kx=np.where(_LAYER[None, None, :] == int(which[-1]), raised.kx, base.kx),
                              ky=np.where(_LAYER[None, None, :] == int(which[-1]), raised.ky, base.ky))
    t0 = power_weighted_mean(STEADY_PATHS[path](V7_GRID, base, rtol=RTOL), q)
    t1 = power_weighted_mean(STEADY_PATHS[path](V7_GRID, raised, rtol=RTOL), q)
    # The power-weighted mean rise is the compliance (q, θ)/P = max_v [2(q,v) - a(v,v)]/P,
    # and a(v,v) only grows with k or h: exact for the discrete solution. Slack: solver error.
    assert t1 <= t0 + 1e-7 * (t0 - T_AMB), (which, factor, t0, t1)


# ---------------------------------------------------------------------------------------
# The reference solver's own reporting
# ---------------------------------------------------------------------------------------


def test_reference_steady_reports_residual_and_balance():
    grid, fields, exact, _ = _v1_case([4e9, 0.0, 0.0, 0.0])
    r = solve_reference_steady(grid, fields, rtol=1e-9)
    assert r.temperature.shape == grid.node_shape
    assert 0 < r.iterations <= 100
    assert r.relative_residual <= 1e-8  # 10·rtol is what the solver guarantees
    assert r.residuals.ndim == 1 and r.residuals.size == r.iterations + 1
    assert abs(r.energy_balance.residual) <= 1e-6 * r.energy_balance.power_in


def test_reference_steady_matches_direct_factorisation():
    """The AMG-CG solve of the shifted system equals a sparse LU solve of K T = b."""
    import scipy.sparse.linalg as spla

    q = np.zeros(V7_GRID.shape)
    q[1:3, 1:3, 0] = 3e9
    fields = v7_fields((120.0, 2.0, 400.0), 0.5, q, 2e4, 300.0)
    fields = fields.with_(ambient={"zmax": np.full((6, 4), 310.0), "zmin": np.linspace(290, 300, 24).reshape(6, 4)})
    K, b = assemble(V7_GRID, fields)
    direct = spla.splu(K.tocsc()).solve(b).reshape(V7_GRID.node_shape)
    r = solve_reference_steady(V7_GRID, fields, rtol=1e-12)
    # cond(K) ~1e6 here: 1e-12 relative residual -> ~1e-6 relative of the rise at worst.
    rise = direct.max() - 290.0
    np.testing.assert_allclose(r.temperature, direct, rtol=0, atol=1e-7 * rise)


def test_reference_steady_raises_with_history_when_not_converged():
    grid, fields, _, _ = _v1_case([4e9, 0.0, 0.0, 0.0])
    with pytest.raises(SolveError, match=r"did not converge: true relative residual .* after 1 iterations .*`maxiter`"):
        solve_reference_steady(grid, fields, rtol=1e-15, maxiter=1)


def test_reference_steady_rejects_problem_without_convection():
    grid, fields, _, _ = _v1_case([4e9, 0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"no face carries a positive heat-transfer coefficient .* 'zmax'"):
        solve_reference_steady(grid, fields.with_(h={}, ambient={}))


def test_scalar_h_and_ambient_equal_uniform_face_arrays():
    import numpy as np

    from solvers import TensorGrid, ThermalFields
    from solvers.reference import assemble

    x = np.linspace(0, 1e-3, 4)
    z = np.linspace(0, 2e-4, 3)
    shape = (3, 3, 2)
    g = TensorGrid(x, x, z, np.zeros(shape), ("a",), np.zeros(shape), ("m",))
    one = np.ones(shape)
    arrays = ThermalFields(one, one, one, one, one * 1e6, {"zmax": np.full((3, 3), 1e4)},
                           {"zmax": np.full((3, 3), 300.0)})
    scalars = arrays.with_(h={"zmax": 1e4}, ambient={"zmax": 300.0})
    (Ka, ba), (Ks, bs) = assemble(g, arrays), assemble(g, scalars)
    assert abs(Ka - Ks).max() == 0 and np.array_equal(ba, bs)
