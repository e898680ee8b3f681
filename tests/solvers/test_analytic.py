"""The analytic references themselves (solvers.analytic), checked without any FEM solve.

Each reference is checked against the equations it claims to solve (by finite differences or
by substitution) and against an independent method (quadrature, root bracketing), so that a
wrong sign in a reference cannot make a wrong solver look right.
"""

import math

import numpy as np
import pytest
from scipy.optimize import brentq

from solvers.analytic import (
    FluxChannel,
    ManufacturedBox,
    ThermalRunawayError,
    kirchhoff_slab_temperature,
    layered_slab_temperature,
    leakage_equilibrium,
    lumped_body_temperature,
    power_law_kirchhoff,
)

# ---------------------------------------------------------------------------------------
# V1 layered slab
# ---------------------------------------------------------------------------------------


def test_layered_slab_flux_matches_series_resistances():
    t = [1e-4, 5e-5, 7e-4]
    k = [150.0, 3.0, 400.0]
    q, h, t_amb = 2e6, 5e4, 318.0
    z = np.array([0.0, 1e-4, 1.5e-4, 8.5e-4])
    got = layered_slab_temperature(z, t, k, heat_transfer_coefficient=h, ambient=t_amb, bottom_flux=q)
    expected_bottom = t_amb + q * (1 / h + sum(ti / ki for ti, ki in zip(t, k)))
    exact = {"bottom": expected_bottom, "top": t_amb + q / h}
    # Sums of a few floats: agreement to a few ulps of the temperature.
    assert got[0] == pytest.approx(exact["bottom"], rel=1e-14)
    assert got[-1] == pytest.approx(exact["top"], rel=1e-14)
    assert got[1] == pytest.approx(t_amb + q * (1 / h + t[2] / k[2] + t[1] / k[1]), rel=1e-14)


def test_layered_slab_layer_source_solves_the_ode():
    # -(k T')' = s in each layer, continuous T and flux, -k T' = h (T - T_amb) at the top.
    t = np.array([2e-4, 3e-4, 5e-4])
    k = np.array([20.0, 150.0, 2.0])
    s = np.array([0.0, 4e9, 0.0])
    kw = dict(heat_transfer_coefficient=1e4, ambient=300.0, bottom_flux=1e5, layer_sources=s)
    zi = np.concatenate([[0.0], np.cumsum(t)])
    eps = 1e-9
    for i in range(3):
        zm = 0.5 * (zi[i] + zi[i + 1])
        d2 = (layered_slab_temperature(zm + 1e-6, t, k, **kw) - 2 * layered_slab_temperature(zm, t, k, **kw)
              + layered_slab_temperature(zm - 1e-6, t, k, **kw)) / 1e-12
        # Central second difference of a quadratic is exact up to round-off (~1e-4 here).
        assert -k[i] * d2 == pytest.approx(s[i], abs=1e-3 * max(s.max(), 1.0))
    # Flux continuity at the interfaces and the Robin condition at the top (one-sided FD of a
    # quadratic with step eps: error s·eps/(2k) ≪ tolerance).
    for i in (1, 2):
        below = -k[i - 1] * (layered_slab_temperature(zi[i], t, k, **kw) - layered_slab_temperature(zi[i] - eps, t, k, **kw)) / eps
        above = -k[i] * (layered_slab_temperature(zi[i] + eps, t, k, **kw) - layered_slab_temperature(zi[i], t, k, **kw)) / eps
        assert below == pytest.approx(above, rel=1e-4)
    top = layered_slab_temperature(zi[-1], t, k, **kw)
    total = 1e5 + float(np.sum(s * t))
    assert top == pytest.approx(300.0 + total / 1e4, rel=1e-14)


def test_layered_slab_rejects_mismatched_layers():
    with pytest.raises(ValueError, match="one value per layer"):
        layered_slab_temperature(0.0, [1e-3, 1e-3], [1.0], heat_transfer_coefficient=1.0, ambient=300.0)


# ---------------------------------------------------------------------------------------
# V2 flux channel
# ---------------------------------------------------------------------------------------

PLATE = dict(a=10e-3, b=8e-3, t=1e-3, k=100.0, h=1e4, power=2.0, fluid_temperature=300.0)


def test_flux_channel_full_face_source_is_one_dimensional():
    fc = FluxChannel(c=PLATE["a"], d=PLATE["b"], xc=PLATE["a"] / 2, yc=PLATE["b"] / 2, **PLATE)
    q = PLATE["power"] / (PLATE["a"] * PLATE["b"])
    for z in (0.0, 0.4e-3, 1e-3):
        exact = 300.0 + q * (1 / PLATE["h"] + (PLATE["t"] - z) / PLATE["k"])
        assert fc.temperature(1e-3, 7e-3, z) == pytest.approx(exact, rel=1e-12)


@pytest.fixture(scope="module")
def eccentric_channel():
    return FluxChannel(c=2e-3, d=3e-3, xc=3e-3, yc=4.5e-3, n_terms=800, **PLATE)


def test_flux_channel_satisfies_its_boundary_conditions(eccentric_channel):
    """Finite differences of the series reproduce -k dθ/dz = q inside the source, 0 outside,
    and -k dθ/dz = h θ on the cooled face: the signs of the derivation."""
    fc = eccentric_channel
    dz = 1e-7
    q = PLATE["power"] / (2e-3 * 3e-3)
    for (x, y), flux in (((3.2e-3, 4.1e-3), q), ((8e-3, 1.5e-3), 0.0)):
        grad = (fc.temperature(x, y, dz) - fc.temperature(x, y, 0.0)) / dz
        # Forward difference error ~ dz·θ''/2 plus the series' slow pointwise convergence of
        # the flux (Gibbs-free here, 1.5 mm from any source edge): 1 % of q.
        assert -PLATE["k"] * grad == pytest.approx(flux, abs=0.01 * q)
    t = PLATE["t"]
    for x, y in ((3e-3, 4.5e-3), (9e-3, 1e-3)):
        theta = fc.temperature(x, y, t) - 300.0
        grad = (fc.temperature(x, y, t) - fc.temperature(x, y, t - dz)) / dz
        assert -PLATE["k"] * grad == pytest.approx(PLATE["h"] * theta, rel=1e-3)


def test_flux_channel_mean_matches_quadrature_and_series_settles(eccentric_channel):
    fc = eccentric_channel
    change = fc.series_change()
    # 400 -> 800 terms moves neither value by more than 1e-4 of the rise (measured ~5e-6).
    assert change["centre"] < 1e-4 and change["mean"] < 1e-4
    # Mean by the term-wise formula against a 2-D midpoint quadrature of the point values:
    # O(h²) quadrature error with 24×24 points, ~1e-3 of the rise.
    n = 24
    xs = 2e-3 + (np.arange(n) + 0.5) * 2e-3 / n
    ys = 3e-3 + (np.arange(n) + 0.5) * 3e-3 / n
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    quad = float(np.mean(fc.temperature(X, Y, 0.0, n_terms=200)))
    mean = fc.mean_source_temperature()
    assert quad == pytest.approx(mean, abs=3e-3 * (mean - 300.0))
    # The centre is hotter than the mean, which is hotter than the 1-D (full-face) value.
    one_d = 300.0 + PLATE["power"] / (PLATE["a"] * PLATE["b"]) * (1 / PLATE["h"] + PLATE["t"] / PLATE["k"])
    assert fc.centre_temperature() > mean > one_d


def test_flux_channel_centred_source_is_symmetric():
    fc = FluxChannel(c=2e-3, d=2e-3, xc=5e-3, yc=4e-3, n_terms=200, **PLATE)
    a = fc.temperature(np.array([3e-3, 7e-3]), np.array([2e-3, 6e-3]), 0.2e-3)
    assert a[0] == pytest.approx(a[1], rel=1e-12)


def test_flux_channel_rejects_source_off_the_plate():
    with pytest.raises(ValueError, match=r"source x-range .* leaves \[0, a"):
        FluxChannel(c=4e-3, d=1e-3, xc=9e-3, yc=4e-3, **PLATE)


# ---------------------------------------------------------------------------------------
# V3 manufactured solution
# ---------------------------------------------------------------------------------------


def test_manufactured_source_and_robin_data_are_consistent():
    mb = ManufacturedBox()
    kx, ky, kz = mb.conductivity
    p = np.array([0.7e-3, 0.3e-3, 0.2e-3])
    e = 1e-6
    # Central second differences: error ~ e²·T''''/12, relative ~1e-6 here.
    lap = 0.0
    for axis, k in enumerate((kx, ky, kz)):
        dp = np.zeros(3)
        dp[axis] = e
        lap += k * (mb.temperature(*(p + dp)) - 2 * mb.temperature(*p) + mb.temperature(*(p - dp))) / e**2
    assert -lap == pytest.approx(mb.source(*p), rel=1e-4)
    # Robin: -k ∂T/∂n = h (T - T_amb) on every face.
    lx, ly, lz = mb.lengths
    for face, point, normal in (
        ("xmin", (0.0, 0.4e-3, 0.1e-3), (-1, 0, 0)),
        ("xmax", (lx, 0.4e-3, 0.1e-3), (1, 0, 0)),
        ("ymin", (1.1e-3, 0.0, 0.3e-3), (0, -1, 0)),
        ("ymax", (1.1e-3, ly, 0.3e-3), (0, 1, 0)),
        ("zmin", (1.5e-3, 0.2e-3, 0.0), (0, 0, -1)),
        ("zmax", (1.5e-3, 0.2e-3, lz), (0, 0, 1)),
    ):
        axis = int(np.argmax(np.abs(normal)))
        g = mb.gradient(*point)
        flux_out = -mb.conductivity[axis] * g[axis] * normal[axis]
        tang = [point[i] for i in range(3) if i != axis]
        t_amb = mb.ambient(face, *tang)
        assert flux_out == pytest.approx(mb.heat_transfer_coefficient * (mb.temperature(*point) - t_amb), rel=1e-12)


# ---------------------------------------------------------------------------------------
# V4 lumped body
# ---------------------------------------------------------------------------------------


def test_lumped_body_solves_its_ode():
    kw = dict(power=3.0, heat_transfer_coefficient=50.0, area=4e-4, heat_capacity=0.2, ambient=300.0)
    tau = 0.2 / (50.0 * 4e-4)
    t = np.array([0.0, 0.3 * tau, tau, 40 * tau])
    T = lumped_body_temperature(t, **kw)
    assert T[0] == 300.0
    assert T[-1] == pytest.approx(300.0 + 3.0 / (50.0 * 4e-4), rel=1e-15)
    dt = 1e-6 * tau
    dT = (lumped_body_temperature(t[1] + dt, **kw) - lumped_body_temperature(t[1] - dt, **kw)) / (2 * dt)
    assert 0.2 * dT == pytest.approx(3.0 - 50.0 * 4e-4 * (T[1] - 300.0), rel=1e-7)


# ---------------------------------------------------------------------------------------
# V5 Kirchhoff transform
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("exponent", [-1.3, -1.0, 0.0, 0.7])
def test_kirchhoff_profile_carries_constant_flux(exponent):
    kw = dict(k_ref=150.0, reference_temperature=300.0, exponent=exponent)
    L, q, t_top = 2e-3, 4e6, 320.0
    z = np.linspace(0, L, 9)[1:-1]
    e = 1e-8
    T = lambda zz: kirchhoff_slab_temperature(zz, thickness=L, flux=q, top_temperature=t_top, **kw)  # noqa: E731
    k_of = lambda temp: 150.0 * (temp / 300.0) ** exponent  # noqa: E731
    flux = -k_of(T(z)) * (T(z + e) - T(z - e)) / (2 * e)
    np.testing.assert_allclose(flux, q, rtol=1e-6)
    assert float(T(L)) == pytest.approx(t_top, rel=1e-14)
    # U is the integral of k: compare with quadrature.
    from scipy.integrate import quad

    tb = float(T(0.0))
    integral = quad(k_of, t_top, tb, epsabs=0, epsrel=1e-13)[0]
    assert integral == pytest.approx(q * L, rel=1e-10)
    assert power_law_kirchhoff(tb, **kw) - power_law_kirchhoff(t_top, **kw) == pytest.approx(q * L, rel=1e-10)


def test_kirchhoff_reports_conduction_runaway():
    with pytest.raises(ValueError, match="conduction runaway"):
        kirchhoff_slab_temperature(0.0, thickness=1e-2, flux=1e8, top_temperature=300.0, k_ref=150.0,
                                   reference_temperature=300.0, exponent=-1.3)


# ---------------------------------------------------------------------------------------
# V6 leakage
# ---------------------------------------------------------------------------------------

LEAK = dict(ambient=318.0, dynamic_power=100.0, leakage_power=20.0, leakage_coefficient=0.02,
            reference_temperature=358.0)


def _g(temp, R, p=LEAK):
    return p["ambient"] + R * (p["dynamic_power"] + p["leakage_power"] * np.exp(p["leakage_coefficient"] * (temp - p["reference_temperature"]))) - temp


@pytest.mark.parametrize("R", [0.05, 0.2, 0.5])
def test_leakage_smallest_root(R):
    r = leakage_equilibrium(thermal_resistance=R, **LEAK)
    assert not r.runaway
    # The root satisfies the equation to round-off of a few hundred kelvin.
    assert abs(_g(r.temperature, R)) < 1e-9
    # Independent bracketing: g > 0 at T_amb and g < 0 at ... the first sign change on a fine
    # scan of [T_amb, T*] is the smallest root.
    scan = np.linspace(LEAK["ambient"], r.tangency_temperature, 20001)
    first = int(np.argmax(_g(scan, R) <= 0))
    root = brentq(_g, scan[first - 1], scan[first], args=(R,), xtol=1e-12)
    assert r.temperature == pytest.approx(root, abs=1e-8)
    assert r.loop_gain < 1.0 and r.margin > 0
    assert r.power == pytest.approx(LEAK["dynamic_power"] + LEAK["leakage_power"] * math.exp(0.02 * (root - 358.0)), rel=1e-10)


def test_leakage_runaway_is_reported_with_the_tangency_point():
    R = 1.5
    with pytest.raises(ThermalRunawayError, match=r"thermal runaway .* T\* = \d+\.\d+ K with P = "):
        leakage_equilibrium(thermal_resistance=R, **LEAK)
    r = leakage_equilibrium(thermal_resistance=R, throw=False, **LEAK)
    assert r.runaway and r.temperature is None and r.power is None and r.margin < 0
    # No root anywhere: g stays positive far beyond the tangency point.
    scan = np.linspace(LEAK["ambient"], r.tangency_temperature + 50 / 0.02, 100001)
    assert np.all(_g(scan, R) > 0)
    # Tangency: loop gain 1 at T*, and g is smallest there.
    assert R * 0.02 * 20.0 * math.exp(0.02 * (r.tangency_temperature - 358.0)) == pytest.approx(1.0, rel=1e-12)
    assert _g(r.tangency_temperature, R) == pytest.approx(float(np.min(_g(scan, R))), rel=1e-6)


def test_leakage_classification_either_side_of_tangency():
    # The critical R solves c = 1/e; find it by bisection on the classification itself and
    # check that a 1e-6 change either side flips the answer and the margin sign.
    lo, hi = 0.1, 2.0
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if leakage_equilibrium(thermal_resistance=mid, throw=False, **LEAK).runaway:
            hi = mid
        else:
            lo = mid
    below = leakage_equilibrium(thermal_resistance=lo * (1 - 1e-6), throw=False, **LEAK)
    above = leakage_equilibrium(thermal_resistance=hi * (1 + 1e-6), throw=False, **LEAK)
    assert not below.runaway and above.runaway
    assert below.margin >= -1e-6 and above.margin < 0
    # Just below criticality the stable root sits next to the tangency point (double root).
    assert below.temperature == pytest.approx(below.tangency_temperature, abs=0.5)
