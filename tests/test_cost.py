"""Cost and yield model: hand-computed answers, limiting cases, monotonicity, analytic vs exact DPW, yield gradients."""

import dataclasses
import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from codesign.cost import (DEFAULT_COST_PARAMS, UNSOURCED, CostError, CostParams, DieSpec, PackageSpec, die_cost,
                           die_yield, dies_per_wafer, kgd, nre_per_unit, package_cost, split_die_cost)

MM = 1e-3
MM2 = 1e-6


# -- dies per wafer -----------------------------------------------------------------------------------

def test_dpw_analytic_by_hand():
    # 300 mm, no exclusion, no scribe, 10 x 10 mm: pi*150^2/100 - pi*300/sqrt(200) = 706.858 - 66.643
    v = float(dies_per_wafer(10 * MM, 10 * MM, edge_exclusion=0, scribe=0, method="analytic"))
    assert v == pytest.approx(math.pi * 150**2 / 100 - math.pi * 300 / math.sqrt(200), rel=1e-12)
    assert v == pytest.approx(640.215, abs=1e-3)
    # edge exclusion 5 mm and scribe 0.2 mm: d = 290 mm, A = 10.2^2 mm2
    a = 10.2**2
    v = float(dies_per_wafer(10 * MM, 10 * MM, edge_exclusion=5 * MM, scribe=0.2 * MM, method="analytic"))
    assert v == pytest.approx(math.pi * 145**2 / a - math.pi * 290 / math.sqrt(2 * a), rel=1e-12)


def test_dpw_exact_by_hand():
    # 100 x 100 mm dies on a 300 mm wafer: a street cross at the centre gives 4 dies (corner at 141 mm),
    # a centred die gives only 1 (its neighbours' corners are at 158 mm).
    assert dies_per_wafer(100 * MM, 100 * MM, edge_exclusion=0, scribe=0) == 4
    # a 212 x 212 mm die fits (half-diagonal 149.9 mm), 213 mm does not (150.6 mm)
    assert dies_per_wafer(212 * MM, 212 * MM, edge_exclusion=0, scribe=0) == 1
    assert dies_per_wafer(213 * MM, 213 * MM, edge_exclusion=0, scribe=0) == 0
    # 150 x 10 mm strips: centred on the street cross, rows at |y| <= 10k; a row fits when
    # 150^2 + (10k)^2 <= 150^2 ... only the rows with y-extent 0..10 and -10..0 reach x = 150 -> no;
    # so count by brute force with an independent loop
    w, h, r = 30 * MM, 20 * MM, 150 * MM
    best = 0
    for ox in (-w / 2, 0.0):
        for oy in (-h / 2, 0.0):
            n = 0
            for i in range(-20, 21):
                for j in range(-20, 21):
                    x0, y0 = ox + i * w, oy + j * h
                    if all(x * x + y * y <= r * r * (1 + 1e-12) for x in (x0, x0 + w) for y in (y0, y0 + h)):
                        n += 1
            best = max(best, n)
    assert dies_per_wafer(w, h, edge_exclusion=0, scribe=0) == best


@settings(max_examples=30, deadline=None)
@given(st.floats(3, 40), st.floats(3, 40))
def test_dpw_best_placement_close_to_analytic_and_below_area_bound(w, h):
    exact = dies_per_wafer(w * MM, h * MM)  # best placement
    ana = float(dies_per_wafer(w * MM, h * MM, method="analytic"))
    bound = math.pi * (147 * MM) ** 2 / ((w + 0.1) * (h + 0.1) * MM2)
    assert exact <= bound
    assert abs(exact - ana) <= 0.12 * ana + 8   # the formula is an approximation of the count


# -- yield -------------------------------------------------------------------------------------------

def test_yield_models_by_hand():
    a, d = 1e-4, 0.5e4            # 1 cm2 at 0.5 /cm2: AD = 0.5
    assert float(die_yield(a, d, model="poisson")) == pytest.approx(math.exp(-0.5), rel=1e-12)
    assert float(die_yield(a, d, model="murphy")) == pytest.approx(((1 - math.exp(-0.5)) / 0.5) ** 2, rel=1e-12)
    assert float(die_yield(a, d, model="seeds")) == pytest.approx(1 / 1.5, rel=1e-12)
    assert float(die_yield(a, d, model="negative_binomial", alpha=2.0)) == pytest.approx(1.25**-2, rel=1e-12)
    # alpha -> infinity is Poisson
    assert float(die_yield(a, d, alpha=1e9)) == pytest.approx(math.exp(-0.5), rel=1e-6)


@pytest.mark.parametrize("model", ["poisson", "murphy", "seeds", "negative_binomial"])
def test_yield_limits_and_monotonic(model):
    assert float(die_yield(500 * MM2, 0.0, model=model)) == 1.0
    areas = np.linspace(1, 900, 50) * MM2
    y = np.array([float(die_yield(a, 0.1e4, model=model, alpha=3.0)) for a in areas])
    assert np.all(np.diff(y) < 0) and np.all((y > 0) & (y <= 1))
    g = jax.grad(lambda a: die_yield(a, 0.1e4, model=model, alpha=3.0))(1e-12)
    assert np.isfinite(g)


def test_unknown_yield_model_says_how_to_fix():
    with pytest.raises(CostError, match="choose one of poisson, murphy, seeds, negative_binomial"):
        die_yield(1e-4, 1e3, model="bose")


# -- KGD ---------------------------------------------------------------------------------------------

def test_kgd_by_hand():
    # Y = 0.8, coverage 0.9: pass = 0.8 + 0.2*0.1 = 0.82; cost (10+2)/0.82; good|pass = 0.8/0.82
    cost, q, p = kgd(10.0, 2.0, 0.8, 0.9)
    assert p == pytest.approx(0.82) and cost == pytest.approx(12 / 0.82) and q == pytest.approx(0.8 / 0.82)
    cost, q, p = kgd(10.0, 2.0, 0.8, 1.0)      # perfect test: no escapes
    assert q == 1.0 and cost == pytest.approx(12 / 0.8)
    cost, q, p = kgd(10.0, 0.0, 0.8, 0.0)      # no test: everything passes, escapes = 1 - Y
    assert p == 1.0 and q == pytest.approx(0.8)


def test_die_cost_by_hand():
    params = dataclasses.replace(DEFAULT_COST_PARAMS, yield_model="poisson", test_coverage=1.0,
                                 test_cost_per_die=0.0, test_cost_per_area=0.0)
    d = die_cost(DieSpec("x", 10 * MM, 10 * MM, node="N7"), params)
    dpw = dies_per_wafer(10 * MM, 10 * MM)
    y = math.exp(-1e-4 * 0.09e4)
    assert d.dies_per_wafer == dpw
    assert d.unit_cost == pytest.approx(9346.0 / dpw / y, rel=1e-12)
    assert d.nre == pytest.approx(298e6 * 100 / 300 + 1e6)


# -- package -----------------------------------------------------------------------------------------

def _perfect(params=DEFAULT_COST_PARAMS):
    """Bonding and test perfect, so the package reduces to sums."""
    techs = {k: dataclasses.replace(t, bond_chip_yield=1.0, bond_yield_per_bond=1.0) for k, t in params.technologies.items()}
    return dataclasses.replace(params, technologies=techs, test_coverage=1.0)


def test_one_chiplet_is_monolithic_plus_packaging():
    p = _perfect()
    die = DieSpec("soc", 20 * MM, 25 * MM, node="N5")
    pkg = PackageSpec("organic_substrate", 0.0, (45 * MM) ** 2)
    c = package_cost([die], pkg, p, nre=False)
    mono = die_cost(die, p).unit_cost
    c4 = 0.005 / MM2 * 500 * MM2                      # Actuary's C4 cost per die area
    packaging = 0.010 / MM2 * (45 * MM) ** 2 + p.assembly_cost_per_chip + p.package_test_cost
    assert c.cost_per_good_package == pytest.approx(mono + c4 + packaging, rel=1e-12)
    assert c.bump_cost == pytest.approx(c4, rel=1e-12)
    assert c.package_yield == 1.0


def test_package_by_hand_chip_last_vs_chip_first():
    p = _perfect()
    die = DieSpec("d", 10 * MM, 10 * MM, node="N7", count=2)
    pkg = PackageSpec("organic_rdl", 400 * MM2, 900 * MM2, carrier_size=(20 * MM, 20 * MM))
    last = package_cost([die], pkg, p, nre=False)
    first = package_cost([die], dataclasses.replace(pkg, flow="chip_first"), p, nre=False)
    upw = dies_per_wafer(20 * MM, 20 * MM)
    raw = 1200.0 / upw + 0.005 / MM2 * 400 * MM2        # RDL wafer share + the carrier's own C4
    ubump = 0.01 / MM2 * 2 * 100 * MM2                  # micro-bumps of the two dies (chip-last only)
    y_int = (1 + 400 * MM2 * 0.05e4 / 3.0) ** -3.0
    unit = die_cost(DieSpec("d", 10 * MM, 10 * MM, node="N7"), p).unit_cost
    fixed = 0.010 / MM2 * 900 * MM2 + 3 * p.assembly_cost_per_chip + p.package_test_cost
    assert last.cost_per_good_package == pytest.approx(2 * unit + ubump + raw / y_int + fixed, rel=1e-12)
    assert first.cost_per_good_package == pytest.approx((2 * unit + raw + fixed) / y_int, rel=1e-12)
    assert first.cost_per_good_package > last.cost_per_good_package     # chip-first scraps good dies


def test_bonding_yield_by_hand():
    die = DieSpec("d", 10 * MM, 10 * MM, node="N7", count=3, bonds=1000)
    params = dataclasses.replace(DEFAULT_COST_PARAMS, test_coverage=1.0)
    c = package_cost([die], PackageSpec("silicon_interposer", 500 * MM2, 1600 * MM2), params, nre=False)
    assert c.bond_yield == pytest.approx((0.95 * 0.999999**1000) ** 3 * 0.99, rel=1e-12)
    hb = DieSpec("top", 8 * MM, 8 * MM, node="N5", hybrid_area=64 * MM2)
    base = DieSpec("base", 10 * MM, 10 * MM, node="N7")
    c = package_cost([hb, base], PackageSpec("organic_substrate", 0.0, 900 * MM2), params, nre=False)
    y_hb = 0.999 * (1 + 64 * MM2 * 0.01e4 / 3.0) ** -3.0
    assert c.bond_yield == pytest.approx(y_hb * 0.99, rel=1e-12)


def test_hbm_and_optical_units_are_labelled_placeholders():
    assert DEFAULT_COST_PARAMS.source("hbm_unit_cost").startswith(UNSOURCED)
    assert DEFAULT_COST_PARAMS.source("optical_engine_unit_cost").startswith(UNSOURCED)
    c = package_cost([DieSpec("h", 11 * MM, 10 * MM, kind="hbm", hbm_generation="HBM3", count=2)],
                     PackageSpec("organic_substrate", 0, 900 * MM2), nre=False)
    assert c.die_cost == pytest.approx(2 * 120.0)


def test_every_default_has_a_source():
    p = DEFAULT_COST_PARAMS
    for f in dataclasses.fields(p):
        if f.name not in ("nodes", "technologies", "sources"):
            assert p.source(f.name), f.name
    for n in p.nodes.values():
        assert {k for k, _ in n.sources} == {"wafer_cost", "defect_density", "alpha", "mask_set_cost", "design_nre"}
        assert all(s for _, s in n.sources)
    for t in p.technologies.values():
        assert all(s for _, s in t.sources)
    assert "hbm_unit_cost" in p.placeholders()
    assert "Actuary" in p.table() and "leak" in p.table()


def test_nre_amortised_with_reuse():
    assert nre_per_unit([(100e6, 1), (50e6, 2)], 1e6, package_nre=1e6) == pytest.approx((100e6 + 25e6 + 1e6) / 1e6)
    a = package_cost([DieSpec("c", 10 * MM, 10 * MM, node="N5")], volume=1e5)
    b = package_cost([DieSpec("c", 10 * MM, 10 * MM, node="N5", reuse=4)], volume=1e5)
    assert b.nre_per_unit < a.nre_per_unit
    with pytest.raises(CostError, match="positive number of units"):
        nre_per_unit([(1.0, 1)], 0)


def test_unknown_node_suggests():
    with pytest.raises(CostError, match=r"did you mean 'N5'.*with_node"):
        die_cost(DieSpec("x", 1 * MM, 1 * MM, node="N55"))
    assert die_cost(DieSpec("x", 5 * MM, 5 * MM, node="7nm")).node == "N7"


# -- splitting: the crossover ------------------------------------------------------------------------

def test_yield_falls_and_cost_per_area_rises_with_area():
    p = dataclasses.replace(DEFAULT_COST_PARAMS, test_cost_per_die=0.0)   # a fixed per-die fee favours big dies
    costs = [die_cost(DieSpec("x", s * MM, s * MM, node="N5"), p).unit_cost / (s * s) for s in (5, 10, 20, 28)]
    assert all(b > a for a, b in zip(costs, costs[1:]))


def test_split_crossover_monolithic_wins_small_chiplets_win_large():
    small = [split_die_cost(50 * MM2, n).cost_per_good_package for n in (1, 2, 4)]
    large = [split_die_cost(800 * MM2, n).cost_per_good_package for n in (1, 2, 4)]
    assert small[0] < min(small[1:])          # at 50 mm2 packaging + PHY overhead dominate
    assert large[0] > min(large[1:])          # at 800 mm2 yield dominates
    # die cost alone always falls on splitting; packaging cost always rises
    for area in (50 * MM2, 800 * MM2):
        m, s = split_die_cost(area, 1), split_die_cost(area, 4)
        assert s.die_cost / s.escape_yield < m.die_cost / m.escape_yield or area < 100 * MM2
        assert s.carrier_cost + s.assembly_cost > m.carrier_cost + m.assembly_cost
    # the crossover lies between: find it on a grid
    areas = np.linspace(50, 800, 16) * MM2
    wins = [split_die_cost(a, 1).cost_per_good_package <= min(split_die_cost(a, n).cost_per_good_package for n in (2, 4))
            for a in areas]
    k = wins.index(False)
    assert all(wins[:k]) and not any(wins[k:])


# -- analytic dies per wafer ----------------------------------------------------------------------------

def test_analytic_package_cost_close_to_exact_away_from_steps():
    dies = [DieSpec("gpu", 20 * MM, 20 * MM, node="N5", bonds=2000), DieSpec("io", 12 * MM, 12 * MM, node="N7"),
            DieSpec("hbm", 11 * MM, 10 * MM, kind="hbm", count=4), DieSpec("dummy", 8 * MM, 8 * MM, kind="dummy")]
    pkg = PackageSpec("silicon_interposer", 1600 * MM2, 3600 * MM2, carrier_size=(40 * MM, 40 * MM))
    ex = package_cost(dies, pkg, nre=False).cost_per_good_package      # best placement
    an = package_cost(dies, pkg, method="analytic", nre=False).cost_per_good_package
    assert an != ex and an == pytest.approx(ex, rel=0.08)


def test_cost_error_is_a_model_error():
    from codesign.errors import CodesignError, ModelError

    with pytest.raises(ModelError, match="N2x") as e:
        DEFAULT_COST_PARAMS.node("N2x")
    assert isinstance(e.value, CostError) and isinstance(e.value, CodesignError) and isinstance(e.value, ValueError)
