"""Verification of the thermo-elastic solver (solvers.elasticity) against closed forms and scikit-fem.

Tolerances (docs/verification-mechanics.md): the incompatible-modes hexahedron is exact in
pure bending on boxes, so thin-strip curvatures match beam/plate theory to the modelling
error of that theory away from free edges (<= 1 %); a uniform free thermal strain on a free
homogeneous body is reproduced exactly by Q1, so stresses vanish to the solver tolerance
(rtol 1e-10 -> |σ| <= 1e-6 E α ΔT); the matrix-free Q1 operator equals scikit-fem's assembled
matrix to round-off (1e-12 relative); gradients equal central differences to ~1e-6 relative
(step 1e-3 relative, second-order differences, solves at rtol 1e-12).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers import SolveError, TensorGrid
from solvers.elastic_analytic import laminate_curvature, stoney_curvature, timoshenko_bimetal_curvature
from solvers.elasticity import ElasticFields, solve_thermoelastic

SI = dict(E=130e9, nu=0.28, cte=2.6e-6)      # silicon (order of magnitude; test data, not a library)
CU = dict(E=120e9, nu=0.34, cte=17e-6)       # copper
ORG = dict(E=25e9, nu=0.30, cte=15e-6)       # organic substrate


def _grid(x, y, z):
    shape = (len(x) - 1, len(y) - 1, len(z) - 1)
    zeros = np.zeros(shape, np.int32)
    return TensorGrid(np.asarray(x, float), np.asarray(y, float), np.asarray(z, float), zeros, ("all",),
                      zeros, ("m",))


def _layered(grid, layers, dT, *, nu0=False):
    """Isotropic fields of horizontal layers: ``layers`` = [(z_top, material dict)] bottom first."""
    zc = grid.element_centres()[2]
    E = np.empty(grid.shape)
    nu = np.empty(grid.shape)
    cte = np.empty(grid.shape)
    lo = -np.inf
    for top, m in layers:
        sel = (zc > lo) & (zc < top)
        E[..., sel], nu[..., sel], cte[..., sel] = m["E"], 0.0 if nu0 else m["nu"], m["cte"]
        lo = top
    return ElasticFields.isotropic(E, nu, cte, np.full(grid.shape, float(dT)))


def _curvature(grid, w, axis=0, middle=0.5):
    """``w''`` fitted (quadratic) to the bottom-face deflection along one axis through the centre."""
    c = (grid.x, grid.y)[axis]
    line = w[:, w.shape[1] // 2] if axis == 0 else w[w.shape[0] // 2, :]
    mid = 0.5 * (c[0] + c[-1])
    sel = np.abs(c - mid) <= 0.5 * middle * (c[-1] - c[0])
    return 2.0 * np.polyfit(c[sel] - mid, line[sel], 2)[0]


# -- rigid-body invariance ------------------------------------------------------------------
@pytest.mark.parametrize("support", ["free", pytest.param("simply_supported", marks=pytest.mark.slow)])
def test_uniform_temperature_on_homogeneous_body_gives_no_stress(support):
    g = _grid(np.linspace(0, 2e-3, 21), np.linspace(0, 1e-3, 21), np.linspace(0, 2e-4, 4))
    e = np.ones(g.shape)
    # orthotropic, to exercise every constant: free thermal strain differs per axis
    f = ElasticFields(E=np.stack([100e9 * e, 60e9 * e, 20e9 * e]), nu=np.stack([0.3 * e, 0.2 * e, 0.25 * e]),
                      G=np.stack([30e9 * e, 10e9 * e, 12e9 * e]),
                      alpha_dT=np.stack([-2e-3 * e, -1e-3 * e, -4e-3 * e]))
    # rtol 1e-8 (float32 V-cycle): the default path, and the compiled program of the other free-support tests
    sol = solve_thermoelastic(g, f, support=support, rtol=1e-8)
    assert bool(sol.converged)
    scale = 100e9 * 4e-3
    assert np.abs(sol.stress()).max() <= 1e-6 * scale
    # the displacement is the free expansion, u_x = α_x ΔT x (+ rigid motion)
    eps = sol.strain()
    assert np.allclose(eps[..., 0], -2e-3, rtol=1e-7) and np.allclose(eps[..., 2], -4e-3, rtol=1e-7)
    if support == "simply_supported":
        assert np.abs(sol.bottom_face_w()).max() <= 1e-12


# -- thin bimaterial strips: locking-free bending -------------------------------------------
def test_bimetal_strip_matches_timoshenko_within_one_percent_at_L_over_h_50():
    """Si/Cu strip, L/h = 50, one element through each layer (element aspect 25), ν = 0 (beam theory)."""
    h1 = h2 = 0.1e-3
    L = 50 * (h1 + h2)
    g = _grid(np.linspace(0, L, 21), np.linspace(0, 2e-3, 21), [0, h1, h1 + h2, h1 + h2 + 1e-6])
    # a third, 1 µm layer of the same copper keeps the node counts of the other default tests
    # (one compiled program); it changes the reference by a 1/200 thicker copper layer
    f = _layered(g, [(h1, SI), (h1 + h2 + 1e-6, CU)], -100.0, nu0=True)
    ref = laminate_curvature([SI["E"], CU["E"]], [0, 0], [SI["cte"], CU["cte"]], [h1, h2 + 1e-6], -100.0,
                             biaxial=False)[1]
    assert timoshenko_bimetal_curvature(SI["E"], SI["cte"], h1, CU["E"], CU["cte"], h2, -100.0) == pytest.approx(
        laminate_curvature([SI["E"], CU["E"]], [0, 0], [SI["cte"], CU["cte"]], [h1, h2], -100.0, biaxial=False)[1],
        rel=1e-12)
    sol = solve_thermoelastic(g, f)
    k = _curvature(g, sol.bottom_face_w())
    assert k > 0  # cooling, copper (larger CTE) on top: smile
    assert abs(k / ref - 1) <= 0.01, (k, ref)


@pytest.mark.slow
def test_trilinear_element_locks_where_incompatible_modes_do_not():
    """The same strip with two elements per layer: Q1 is >20 % too stiff, incompatible modes within 1 %."""
    h1 = h2 = 0.1e-3
    L = 50 * (h1 + h2)
    g = _grid(np.linspace(0, L, 51), np.linspace(0, 0.4e-3, 3), [0, h1 / 2, h1, h1 + h2 / 2, h1 + h2])
    f = _layered(g, [(h1, SI), (h1 + h2, CU)], -100.0, nu0=True)
    ref = timoshenko_bimetal_curvature(SI["E"], SI["cte"], h1, CU["E"], CU["cte"], h2, -100.0)
    k = _curvature(g, solve_thermoelastic(g, f).bottom_face_w())
    assert abs(k / ref - 1) <= 0.01, (k, ref)
    q1 = solve_thermoelastic(g, f, formulation="q1")
    assert _curvature(g, q1.bottom_face_w()) / ref < 0.8


def test_laminates_symmetric_flat_and_unsymmetric_clt_within_one_percent():
    """Plates 10 x 10 mm of three layers (one element each) under ΔT = -150 K, ν != 0 (biaxial CLT)."""
    t = 0.1e-3
    x = np.linspace(0, 10e-3, 21)
    g = _grid(x, x, [0, t, 2 * t, 3 * t])  # element aspect ratio 5
    sym = solve_thermoelastic(g, _layered(g, [(t, CU), (2 * t, ORG), (3 * t, CU)], -150.0))
    uns_layers = [(t, SI), (2 * t, ORG), (3 * t, CU)]
    uns = solve_thermoelastic(g, _layered(g, uns_layers, -150.0))
    ref = laminate_curvature([SI["E"], ORG["E"], CU["E"]], [SI["nu"], ORG["nu"], CU["nu"]],
                             [SI["cte"], ORG["cte"], CU["cte"]], [t, t, t], -150.0)[1]
    for axis in (0, 1):
        k = _curvature(g, uns.bottom_face_w(), axis)
        assert abs(k / ref - 1) <= 0.01, (axis, k, ref)
        assert abs(_curvature(g, sym.bottom_face_w(), axis)) <= 1e-3 * abs(ref)


def test_micron_bond_layers_under_wide_cells_bend_like_the_laminate_in_few_iterations():
    """200 µm of silicon with 2.5 µm of copper and 2.5 µm of organic on it, 20 x 20 mm on 1 mm cells
    (aspect 400 in the thin layers), ΔT = -100 K: the curvature is the laminate's (CLT) within 1 %, and
    CG needs <= 45 iterations. The incompatible modes make the thin layers' node-by-node alternating
    in-plane patterns soft; without the sign-modulated coarse space (solvers.elasticity._modulate) this
    took 54-58 iterations, with it 35-36 (with and without the suite's XLA_FLAGS)."""
    hs, hb = 200e-6, 2.5e-6
    x = np.linspace(0, 20e-3, 21)  # 21 x 21 x 4 nodes: the laminate tests' program
    g = _grid(x, x, [0, hs, hs + hb, hs + 2 * hb])
    layers = [(hs, SI), (hs + hb, CU), (hs + 2 * hb, ORG)]
    sol = solve_thermoelastic(g, _layered(g, layers, -100.0))
    ref = laminate_curvature([SI["E"], CU["E"], ORG["E"]], [SI["nu"], CU["nu"], ORG["nu"]],
                             [SI["cte"], CU["cte"], ORG["cte"]], [hs, hb, hb], -100.0)[1]
    assert abs(_curvature(g, sol.bottom_face_w()) / ref - 1) <= 0.01
    assert int(sol.iterations) <= 45, int(sol.iterations)


def test_stoney_thin_film():
    """A 1 µm copper film on a 200 µm silicon plate: Stoney within its O(h_f/h_s) error + 1 %."""
    hs, hf = 200e-6, 1e-6
    x = np.linspace(0, 10e-3, 21)
    g = _grid(x, x, [0, hs / 2, hs, hs + hf])
    dT = -100.0
    sol = solve_thermoelastic(g, _layered(g, [(hs, SI), (hs + hf, CU)], dT))
    sigma_f = CU["E"] / (1 - CU["nu"]) * (SI["cte"] - CU["cte"]) * dT  # biaxial film stress (tensile)
    ref = stoney_curvature(SI["E"], SI["nu"], hs, sigma_f, hf)
    k = _curvature(g, sol.bottom_face_w())
    stoney_error = 4 * (CU["E"] / (1 - CU["nu"]) * hf) / (SI["E"] / (1 - SI["nu"]) * hs)
    assert abs(k / ref - 1) <= 0.01 + stoney_error, (k, ref)
    clt = laminate_curvature([SI["E"], CU["E"]], [SI["nu"], CU["nu"]], [SI["cte"], CU["cte"]], [hs, hf], dT)[1]
    assert abs(k / clt - 1) <= 0.01


# -- operator against scikit-fem -------------------------------------------------------------
def test_q1_operator_equals_scikit_fem_matrix_to_round_off():
    skfem = pytest.importorskip("skfem")
    from skfem import Basis, BilinearForm, ElementHex1, ElementVector, asm
    from solvers import elasticity as el

    jax.config.update("jax_enable_x64", True)
    g = _grid([0, 1e-3, 2.5e-3, 3e-3], [0, 0.7e-3, 2e-3], [0, 1e-4, 1.5e-4])
    rng = np.random.default_rng(3)
    e = np.ones(g.shape)
    f = ElasticFields(E=rng.uniform(20e9, 150e9, (3,) + g.shape), nu=rng.uniform(0.1, 0.3, (3,) + g.shape),
                      G=rng.uniform(5e9, 50e9, (3,) + g.shape), alpha_dT=0 * np.stack([e, e, e]))
    N, G = el.stiffness(jax.tree_util.tree_map(jnp.asarray, f))
    lev = el._Level(jnp.asarray(g.x), jnp.asarray(g.y), jnp.asarray(g.z), N, G,
                    jnp.ones((3,) + g.node_shape), False)
    shape = (3,) + g.node_shape
    n = int(np.prod(shape))
    # one jitted program (op-by-op dispatch of the element operator's Jacobian is the slow part)
    ours = np.asarray(jax.jit(lambda lev: jax.jacfwd(lambda v: el._apply(lev, v.reshape(shape)).reshape(-1))(
        jnp.zeros(n)))(lev))

    mesh = g.to_skfem()
    basis = Basis(mesh, ElementVector(ElementHex1()))
    nq = basis.X.shape[-1]
    per = lambda a: np.repeat(np.asarray(a).reshape(-1)[:, None], nq, axis=1)  # noqa: E731
    Nq = [[per(N[i, j]) for j in range(3)] for i in range(3)]
    Gq = [per(G[s]) for s in range(3)]
    pairs = ((0, 1), (1, 2), (0, 2))

    @BilinearForm
    def form(u, v, w):
        du, dv = u.grad, v.grad
        out = sum(Nq[i][j] * du[j, j] * dv[i, i] for i in range(3) for j in range(3))
        for s, (a, b) in enumerate(pairs):
            out = out + Gq[s] * (du[a, b] + du[b, a]) * (dv[a, b] + dv[b, a])
        return out

    K = asm(form, basis).toarray()
    # scikit-fem's DOF of (component c, node p) -> ours c * n_nodes + p
    perm = np.empty(n, int)
    for c in range(3):
        perm[basis.nodal_dofs[c]] = c * g.n_nodes + np.arange(g.n_nodes)
    Kp = np.empty_like(K)
    Kp[np.ix_(perm, perm)] = K
    assert np.abs(Kp - ours).max() <= 1e-12 * np.abs(K).max()


# -- mesh convergence on a manufactured solution ---------------------------------------------
@pytest.mark.slow
def test_manufactured_linear_temperature_converges_at_second_order():
    """ΔT linear in x on a free isotropic block: u = a/2 (x² - y² - z², 2xy, 2xz), stress-free.

    The element sees the free thermal strain as its element mean (piecewise constant), so the
    nodal displacement error falls towards h²: measured max-norm orders 1.40 (2 -> 4) and 1.53
    (4 -> 8), pre-asymptotic and rising.
    """
    a = 1e-3 / 1e-3  # thermal strain gradient [1/m]: α ΔT = a x
    errs = []
    for n in (2, 4, 8):
        g = _grid(np.linspace(0, 1e-3, n + 1), np.linspace(0, 1e-3, n + 1), np.linspace(0, 0.5e-3, n + 1))
        xc = g.element_centres()[0][:, None, None] * np.ones(g.shape)
        e = np.ones(g.shape)
        f = ElasticFields.isotropic(100e9 * e, 0.3 * e, a * xc, e)
        u = solve_thermoelastic(g, f, rtol=1e-12).displacement
        X, Y, Z = np.meshgrid(g.x - g.x.mean(), g.y - g.y.mean(), g.z - g.z.mean(), indexing="ij")
        X0 = X + g.x.mean()
        exact = np.stack([0.5 * a * (X0 ** 2 - Y ** 2 - Z ** 2), a * X0 * Y, a * X0 * Z], axis=-1)
        from solvers.elasticity import _remove_rigid
        with jax.enable_x64(True):
            exact = np.asarray(jnp.moveaxis(_remove_rigid(jnp.moveaxis(jnp.asarray(exact), -1, 0),
                                                          jnp.asarray(g.x), jnp.asarray(g.y), jnp.asarray(g.z)), 0, -1))
        errs.append(np.abs(u - exact).max() / np.abs(exact).max())
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders >= 1.35) and orders[1] > orders[0], (errs, orders)


# -- differentiation and batching ------------------------------------------------------------
@pytest.mark.slow
def test_gradients_equal_central_differences_and_vmap_equals_loop():
    jax.config.update("jax_enable_x64", True)
    t = 50e-6
    g = _grid(np.linspace(0, 2e-3, 7), np.linspace(0, 1.5e-3, 4), [0, t, 2 * t, 3 * t])
    f0 = _layered(g, [(t, SI), (2 * t, ORG), (3 * t, CU)], -100.0)
    f0 = jax.tree_util.tree_map(jnp.asarray, f0)

    def warp(scale_E, scale_a, ztop):
        f = f0.with_(E=f0.E * scale_E, G=f0.G * scale_E, alpha_dT=f0.alpha_dT * scale_a)
        z = jnp.asarray(g.z).at[-1].set(ztop)
        w = solve_thermoelastic(g, f, rtol=1e-12, z=z).bottom_face_w()
        return w[-1, -1] - w[0, 0] + w[3, 1]

    args = (jnp.ones((3,) + g.shape), jnp.ones((3,) + g.shape), jnp.asarray(3 * t))
    grads = jax.grad(warp, argnums=(0, 1, 2))(*args)
    # directional derivatives: E of layer 2, α of layer 3, top thickness
    dirs = [jnp.zeros_like(args[0]).at[..., 1].set(1.0), jnp.zeros_like(args[1]).at[..., 2].set(1.0), 1.0]
    for i, d in enumerate(dirs):
        # 1e-3 relative: truncation ~1e-6; a 1e-4 step let the round-off of this grid's direct solve
        # (it is all coarsest level: the z-plane block solve, ~1e-9 relative) reach 1.2e-5 of the derivative
        step = 1e-3 * (1.0 if i < 2 else float(t))
        plus = list(args)
        minus = list(args)
        plus[i] = args[i] + step * d
        minus[i] = args[i] - step * d
        fd = (warp(*plus) - warp(*minus)) / (2 * step)
        ad = jnp.sum(grads[i] * d)
        assert abs(float(ad) / float(fd) - 1) <= 1e-5, (i, float(ad), float(fd))

    batch = jax.tree_util.tree_map(lambda a: jnp.stack([a, 1.5 * a]), f0.with_(alpha_dT=f0.alpha_dT))
    batch = batch.with_(E=f0.E[None].repeat(2, 0), G=f0.G[None].repeat(2, 0), nu=f0.nu[None].repeat(2, 0))
    wb = jax.vmap(lambda f: solve_thermoelastic(g, f, rtol=1e-10).bottom_face_w())(batch)
    for i in range(2):
        fi = jax.tree_util.tree_map(lambda a: np.asarray(a[i]), batch)
        wi = solve_thermoelastic(g, fi, rtol=1e-10).bottom_face_w()
        assert np.allclose(np.asarray(wb[i]), wi, rtol=1e-8, atol=1e-8 * np.abs(wi).max())


# -- input errors ------------------------------------------------------------------------------
def test_bad_inputs_name_the_field_and_the_fix():
    g = _grid(np.linspace(0, 1e-3, 3), np.linspace(0, 1e-3, 3), [0, 1e-4])
    e = np.ones(g.shape)
    good = ElasticFields.isotropic(1e11 * e, 0.3 * e, 1e-5 * e, e)
    with pytest.raises(ValueError, match=r"ElasticFields.E.*shape"):
        solve_thermoelastic(g, good.with_(E=np.ones((3, 2, 2, 2))))
    with pytest.raises(ValueError, match=r"ElasticFields.E.*> 0"):
        solve_thermoelastic(g, good.with_(E=np.asarray(good.E).copy() * 0))
    with pytest.raises(ValueError, match=r"nu.*not positive definite"):
        solve_thermoelastic(g, good.with_(nu=np.asarray(good.nu) * 0 + 0.6))
    with pytest.raises(ValueError, match=r"not finite"):
        solve_thermoelastic(g, good.with_(alpha_dT=np.asarray(good.alpha_dT) * np.nan))
    with pytest.raises(ValueError, match=r"support="):
        solve_thermoelastic(g, good, support="clamped")
    with pytest.raises(ValueError, match=r"three\s+supported nodes"):
        solve_thermoelastic(g, good, support="simply_supported", support_mask=np.eye(3, dtype=bool))
    # on the node counts of the free-support tests (21 x 21 x 4): their compiled program (maxiter is data)
    g = _grid(np.linspace(0, 2e-3, 21), np.linspace(0, 1e-3, 21), np.linspace(0, 2e-4, 4))
    e = np.ones(g.shape)
    good = ElasticFields.isotropic(1e11 * e, 0.3 * e, 1e-5 * e, e)
    with pytest.raises(SolveError, match=r"did not converge"):
        solve_thermoelastic(g, good.with_(alpha_dT=np.asarray(good.alpha_dT) * [[[[1.0]]], [[[2.0]]], [[[3.0]]]]),
                            maxiter=2)


# -- void elements (open space) ---------------------------------------------------------------
def test_void_elements_are_removed_exactly():
    """A Cu/Si bilayer with void columns beside it and a void layer above gives the same stresses in
    the solid as the bilayer meshed alone (the void carries nothing; equal to the solver tolerance)."""
    x, z = np.linspace(0, 2e-3, 7), [0.0, 1e-4, 2e-4]
    alone = _grid(x, x, z)
    fa = _layered(alone, [(1e-4, CU), (2e-4, SI)], -100.0)
    sa = solve_thermoelastic(alone, fa, rtol=1e-10).stress()
    # maxiter is data: another budget reuses the compiled program (and is honoured)
    from solvers._jit import JIT_CACHE

    programs = JIT_CACHE[("thermoelastic",)]._cache_size()
    short = solve_thermoelastic(alone, fa, rtol=1e-10, maxiter=2, throw=False)
    assert int(short.iterations) <= 2  # (this small grid is solved by the coarsest level's Cholesky: 1 iteration)
    assert JIT_CACHE[("thermoelastic",)]._cache_size() == programs
    # 14 void columns along x and along y, one void layer on top: 21 x 21 x 4 nodes, the node counts of
    # the free-support tests above, so this solve reuses their compiled program (void is data)
    xb, zb = np.concatenate([x, x[-1] + np.arange(1, 15) * (x[1] - x[0])]), z + [3e-4]
    boxed = _grid(xb, xb, zb)
    fb = _layered(boxed, [(1e-4, CU), (2e-4, SI), (3e-4, SI)], -100.0)
    void = np.zeros(boxed.shape, bool)
    void[6:] = True
    void[:, 6:] = True
    void[..., 2] = True
    # the float32 V-cycle path (rtol >= SINGLE_PRECISION_RTOL); rtol 1e-8 left stress errors of 0.95-1.04e-7
    # of the scale depending on the preconditioner (at the bound below), 1e-9 leaves 4-7e-9
    sb = solve_thermoelastic(boxed, fb, rtol=1e-9, void=void).stress()
    scale = CU["E"] * CU["cte"] * 100.0
    assert np.max(np.abs(sb[:6, :6, :2] - sa)) <= 1e-7 * scale
    assert np.max(np.abs(sa)) > 0.1 * scale  # a real bending stress, not a trivial zero


# -- the solver's operator pieces against their definitions --------------------------------------
def test_stencil_galerkin_and_column_solves_equal_their_dense_definitions():
    """The 27-block stencil (applied from its symmetric half) equals the element operator, the sparse
    Galerkin product equals the dense ``Pᵀ A P``, and the z-column / z-plane block solves invert their
    matrices: to round-off (graded grid, random orthotropic constants, void elements, held DOFs)."""
    import dataclasses

    from solvers import elasticity as el

    jax.config.update("jax_enable_x64", True)
    rng = np.random.default_rng(5)
    shape = (5, 4, 3)
    x, y = np.r_[0, np.cumsum(rng.uniform(0.5, 2, 5))], np.r_[0, np.cumsum(rng.uniform(0.5, 2, 4))]
    z = np.r_[0, np.cumsum(rng.uniform(0.05, 0.3, 3))]
    f = ElasticFields(E=jnp.asarray(rng.uniform(20, 150, (3,) + shape)), nu=jnp.asarray(rng.uniform(0.1, 0.3, (3,) + shape)),
                      G=jnp.asarray(rng.uniform(5, 50, (3,) + shape)), alpha_dT=jnp.zeros((3,) + shape))
    void = np.zeros(shape, bool)
    void[-1, :, -1] = True
    N, G = el.stiffness(f)
    solid = jnp.asarray(~void, jnp.float64)
    N, G = N * solid, G * solid
    mask = jnp.asarray(el._dof_mask(shape, "free", None, "test", void))
    dense = lambda op, n_shape: jax.jacfwd(lambda v: op(v.reshape(n_shape)).reshape(-1))(  # noqa: E731
        jnp.zeros(int(np.prod(n_shape))))
    nodes = (3, 6, 5, 4)

    @jax.jit  # one program: op-by-op dispatch of these pieces took ~60 s
    def errors(N, G, mask, r):
        out = []
        for incompatible in (True, False):
            lev = el._Level(jnp.asarray(x), jnp.asarray(y), jnp.asarray(z), N, G, mask, incompatible=incompatible)
            S = el._constrain_stencil(el._element_stencil(lev), mask)
            A_el = dense(lambda v: el._apply_c(lev, v), nodes)
            A_st = dense(lambda v: el._half_apply(el._half_stencil(S), v), nodes)
            out.append(jnp.abs(A_st - A_el).max() / jnp.abs(A_el).max())
        # the sign-modulated stencil is D A D (D: (-1)^i on u_x, (-1)^j on u_y)
        d = jnp.broadcast_to(el._node_signs(nodes), nodes).reshape(-1)
        A_mod = dense(lambda v: el._stencil_apply(el._modulate(S, mask), v), nodes)
        mod_err = jnp.abs(A_mod - d[:, None] * A_el * d[None, :]).max() / jnp.abs(A_el).max()
        lev = dataclasses.replace(lev, stencil=S)
        coarse, tr = el._coarsen(lev)
        cn = (3, coarse.x.shape[0], coarse.y.shape[0], coarse.z.shape[0])
        Sc = el._galerkin(lev, coarse, tr, el._coarse_nodes(len(x)), el._coarse_nodes(len(y)))
        P = dense(lambda q: el._prolong(tr, coarse, lev.mask, q), cn)  # (fine DOFs, coarse DOFs)
        mc = coarse.mask.reshape(-1)
        ref = mc[:, None] * (P.T @ A_el @ P) * mc[None, :] + jnp.diag(1.0 - mc)
        out.append(jnp.abs(dense(lambda v: el._stencil_apply(Sc, v), cn) - ref).max() / jnp.abs(ref).max())
        D, U = el._column_blocks(lev)
        col = el._column_solve3(*el._column_factors(D, U), r)
        out.append(jnp.abs(col - el._column_solve(*el._factor_columns(D, U), r)).max() / jnp.abs(col).max())
        plane = dataclasses.replace(coarse, stencil=Sc)
        n = cn[0] * cn[1] * cn[2]
        rc = jnp.cos(1.3 * jnp.arange(n * cn[3], dtype=r.dtype)).reshape(cn)
        yc = el._column_solve(*el._factor_columns(*el._plane_blocks(plane)), rc.reshape(n, 1, 1, cn[3])).reshape(cn)
        out.append(jnp.abs(el._stencil_apply(Sc, yc) - rc).max() / jnp.abs(rc).max())
        out.append(mod_err)
        return jnp.stack(out)

    err = np.asarray(errors(N, G, mask, jnp.asarray(rng.normal(size=nodes))))
    # stencil (incompatible, Q1), Galerkin, column sweeps, D A D: round-off; plane solve: round-off x its condition
    assert np.all(err[:4] <= 1e-12) and err[4] <= 1e-8 and err[5] <= 1e-12, err
