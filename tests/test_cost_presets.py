"""Published cost models reproduced through the presets of codesign.cost_presets.

"Published" is each tool's formula (quoted below with its file) evaluated by hand here on the tool's
own parameter file; "ours" goes through codesign.cost.package_cost / die_cost / carrier_cost. The
papers show these models in plots, not tables, so the formulas and parameter files are what is
published. Every row must agree within 0.5 % or be marked as a documented modelling difference.
``python tests/test_cost_presets.py`` prints the table of docs/cost.md.
"""

import math

import pytest

from codesign.cost import DieSpec, PackageSpec, carrier_cost, die_cost, dies_per_wafer, package_cost
from codesign.cost_presets import actuary, actuary_package, catch, rapidchiplet

MM = 1e-3
MM2 = 1e-6

# -- Chiplet Actuary (chiplet_actuary/chip.py, package.py, parameter.ini) -------------------------------------
ACT = {"N5": (0.11, 16988.0), "N14": (0.08, 3984.0), "N7": (0.09, 9346.0)}


def act_dies(area):               # Chip.N_die_total: (sqrt(A) + s)^2, 300 mm wafer, 5 mm edge loss, s = 0.2 mm
    a = area + 2 * 0.2 * math.sqrt(area) + 0.2 ** 2
    return math.pi * (150 - 5) ** 2 / a - math.pi * (300 - 10) / math.sqrt(2 * a)


def act_kgd(node, area):          # Chip.cost_KGD = wafer / (N * (1 + D/100 * A / 10)^-10)
    d0, wafer = ACT[node]
    return wafer / (act_dies(area) * (1 + d0 / 100 * area / 10) ** -10)


def act_os(chips):                # OS.cost_RE, one chip (layer factor 1), area scale 4
    area = sum(a for _, a in chips)
    y = 0.99 ** len(chips)
    return sum(act_kgd(n, a) + a * 0.005 for n, a in chips) / y + area * 4 * 0.005 / y


def act_advanced(chips, *, wafer, d0, crit, bond, scale, chip_last=True, dummies=()):
    """Advanced.cost_RE (SI / FO) with the interposer scaled from the chip area; dummies cost 0 but bumps."""
    area = sum(a for _, a in chips) + sum(dummies)
    ai = area * scale
    n_int = act_dies(ai)
    y1 = (1 + d0 / 100 * ai / crit) ** -crit
    y2 = bond ** (len(chips) + len(dummies))
    y3 = 0.99
    raw_chips = sum(act_kgd(n, a) + a * 0.01 for n, a in chips) + sum(a * 0.01 for a in dummies)
    interposer = wafer / n_int + ai * 0.005
    substrate = ai * 4 * 0.005
    if chip_last:
        return raw_chips / (y2 * y3) + interposer / (y1 * y2 * y3) + substrate / y3
    return raw_chips / (y1 * y3) + interposer / (y1 * y3) + substrate / y3


def ours_actuary(chips, tech, *, flow="chip_last", dummies=()):
    dies = [DieSpec(f"c{i}", math.sqrt(a) * MM, math.sqrt(a) * MM, node=n) for i, (n, a) in enumerate(chips)]
    dies += [DieSpec(f"d{i}", math.sqrt(a) * MM, math.sqrt(a) * MM, kind="dummy") for i, a in enumerate(dummies)]
    area = (sum(a for _, a in chips) + sum(dummies)) * MM2
    return package_cost(dies, actuary_package(tech, area, flow=flow), actuary(), nre=False).cost_per_good_package


_SI = dict(wafer=1937.0, d0=0.06, crit=6, bond=0.95, scale=1.1)
_FO = dict(wafer=1200.0, d0=0.05, crit=3, bond=0.98, scale=1.2)
_TWO = [("N5", 400.0), ("N14", 200.0)]

# -- RapidChiplet (rapid_chiplet.py compute_manufacturing_cost, example_technologies.json, example_packaging.json) --
RC = {"tech_1": (101.6, 500.0, 0.005), "tech_2": (101.6, 750.0, 0.01), "tech_3": (250.0, 1100.0, 0.0005)}
RC_CHIPLETS = [("compute", 5, 5, "tech_1")] * 4 + [("memory", 10, 5, "tech_2")] * 2 + [("io", 10, 7, "tech_2")]
RC_INTERPOSER = (22.0, 17.0)      # our choice of placement bounding box [mm]


def rc_good_die_cost(area, tech):
    r, wc, dd = RC[tech]
    dpw = int(math.floor(math.pi * r ** 2 / area - math.pi * 2 * r / math.sqrt(2 * area)))
    return wc / (dpw * (1.0 / (1.0 + dd * area)))


def rc_total(interposer=True):
    total = sum(rc_good_die_cost(w * h, t) for _, w, h, t in RC_CHIPLETS)
    if interposer:
        total += rc_good_die_cost(RC_INTERPOSER[0] * RC_INTERPOSER[1], "tech_3")
    return total / 0.9


def ours_rc(interposer=True):
    dies = [DieSpec(f"{n}{i}", w * MM, h * MM, node=t) for i, (n, w, h, t) in enumerate(RC_CHIPLETS)]
    a = RC_INTERPOSER[0] * RC_INTERPOSER[1] * MM2
    pkg = PackageSpec("silicon_interposer", a, 0.0) if interposer else PackageSpec("organic_substrate", 0.0, 0.0)
    return package_cost(dies, pkg, rapidchiplet(), nre=False).cost_per_good_package


# -- CATCH (design.py Layer.layer_cost / layer_yield / reticle_utilization, layer_definitions.xml) --------------
def catch_raw(cost_per_mm2, litho, area, dpw, reticle=26 * 33):
    field = reticle
    while field < area:
        field += reticle
    util = (field // area) * area / field
    base = cost_per_mm2 * math.pi * 150 ** 2 / dpw
    return base * (1 - litho) + base * litho / util


def catch_yield(dd, car, area, cf=2.0):
    return (1 + dd * area * car / cf) ** -cf


def catch_dpw(w, h):               # the count both sides use (CATCH's grid fill is a heuristic; see docs/cost.md)
    return dies_per_wafer(w * MM, h * MM, edge_exclusion=0.1 * MM, scribe=0.13 * MM)


def _catch_die(w, h):
    return die_cost(DieSpec("d", w * MM, h * MM, node="N5"), catch())


EXAMPLES = [
    # (example, quantity, published, ours, documented difference or None)
    ("Actuary: 800 mm2 N5 SoC, organic substrate", "cost per good package $",
     lambda: act_os([("N5", 800.0)]), lambda: ours_actuary([("N5", 800.0)], "organic_substrate"), None),
    ("Actuary: N5 400 + N14 200 mm2, Si interposer, chip-last", "cost per good package $",
     lambda: act_advanced(_TWO, **_SI), lambda: ours_actuary(_TWO, "silicon_interposer"), None),
    ("Actuary: N5 400 + N14 200 mm2, InFO RDL, chip-last", "cost per good package $",
     lambda: act_advanced(_TWO, **_FO), lambda: ours_actuary(_TWO, "organic_rdl"), None),
    ("Actuary: N5 400 + N14 200 mm2, InFO RDL, chip-first", "cost per good package $",
     lambda: act_advanced(_TWO, **_FO, chip_last=False), lambda: ours_actuary(_TWO, "organic_rdl", flow="chip_first"),
     "Actuary charges micro-bumps on chip-first dies, which carry none (the RDL is built on them); we do not"),
    ("Actuary: N7 300 mm2 + free 100 mm2 dummy, Si interposer", "cost per good package $",
     lambda: act_advanced([("N7", 300.0)], **_SI, dummies=(100.0,)),
     lambda: ours_actuary([("N7", 300.0)], "silicon_interposer", dummies=(100.0,)), None),
    ("RapidChiplet: 4 compute + 2 memory + 1 IO on a tech_3 interposer", "cost per good package $",
     rc_total, ours_rc, None),
    ("RapidChiplet: same chiplets, no interposer", "cost per good package $",
     lambda: rc_total(False), lambda: ours_rc(False), None),
    ("CATCH: 10 x 10 mm combined_5nm die", "raw die cost incl. reticle term $",
     lambda: catch_raw(0.25024, 0.30, 100.0, catch_dpw(10, 10)), lambda: _catch_die(10, 10).raw_cost, None),
    ("CATCH: 10 x 10 mm combined_5nm die", "layer yield",
     lambda: catch_yield(0.005, 0.67, 100.0), lambda: _catch_die(10, 10).die_yield, None),
    ("CATCH: 20 x 25 mm combined_5nm die", "raw die cost incl. reticle term $",
     lambda: catch_raw(0.25024, 0.30, 500.0, catch_dpw(20, 25)), lambda: _catch_die(20, 25).raw_cost, None),
    ("CATCH: 40 x 30 mm silicon interposer (2 reticles)", "raw interposer cost $",
     lambda: catch_raw(0.021905, 0.10, 1200.0, catch_dpw(40, 30)),
     lambda: carrier_cost(PackageSpec("silicon_interposer", 1200 * MM2, 0.0, carrier_size=(40 * MM, 30 * MM)),
                          catch())[0], None),
]


@pytest.mark.parametrize("example,quantity,published,ours,why", EXAMPLES, ids=[f"{e[0]}|{e[1]}" for e in EXAMPLES])
def test_published_example(example, quantity, published, ours, why):
    pub, us = float(published()), float(ours())
    err = us / pub - 1
    if why is None:
        assert abs(err) <= 0.005, f"{example}: {quantity} published {pub:.6g}, ours {us:.6g} ({err:+.3%})"
    else:
        # a documented modelling difference: the size of the effect is bounded, so the note stays true
        assert 0.0 < abs(err) < 0.05


def test_chip_first_difference_is_exactly_the_bumps():
    # the one documented difference, isolated: add Actuary's micro-bump cost back and the rows agree
    y1 = (1 + 0.05 / 100 * 720 / 3) ** -3
    bumps = 600 * 0.01 / (y1 * 0.99)
    ours = ours_actuary(_TWO, "organic_rdl", flow="chip_first")
    assert ours + bumps == pytest.approx(act_advanced(_TWO, **_FO, chip_last=False), rel=1e-9)


def table() -> str:
    rows = ["| example | quantity | published | ours | rel. error | note |", "|---|---|---|---|---|---|"]
    for example, quantity, published, ours, why in EXAMPLES:
        pub, us = float(published()), float(ours())
        rows.append(f"| {example} | {quantity} | {pub:.4f} | {us:.4f} | {us / pub - 1:+.4%} | {why or 'within 0.5 %'} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())


# -- Actuary's NRE levels and reuse across a family (chiplet_actuary/utils.py, module.py, chip.py, spec.py) ------

def test_actuary_family_nre_by_hand():
    from codesign.cost_nre import ChipDesign, Module, Product, actuary_package_nre, family_nre

    p = actuary()
    cpu = Module("cpu", "N7", 60 * MM2)
    gpu = Module("gpu", "N7", 100 * MM2)
    a = ChipDesign("a", "N7", ((cpu, 1),), d2d_copies=1)            # a CPU chiplet
    b = ChipDesign("b", "N7", ((cpu, 1), (gpu, 1)))                  # a monolithic SoC reusing the CPU module
    fam = [Product("x2", ((a, 2),), 1e5, actuary_package_nre("organic_substrate", 2 * 80 * MM2, 2)),
           Product("soc", ((b, 1),), 4e5, actuary_package_nre("organic_substrate", 160 * MM2, 1))]
    got = {f.product: f for f in family_nre(fam, p)}
    k = 29.8e7                                                       # Actuary [7] NRE
    mod, chip, fixed = 0.5 * k / 300, 0.3 * k / 300, 0.2 * k
    cpu_units = 2 * 1e5 + 4e5
    # x2: two chips a (60 + 20 mm2 D2D), each with the CPU module and one D2D PHY
    x2_module = 2 * mod * 60 / cpu_units
    x2_d2d = 2 * mod * 20 / (2 * 1e5)
    x2_chip = 2 * (chip * 80 + fixed) / (2 * 1e5)
    x2_pkg = (640 * 3e3 * 1.75 + 3e5) / 1e5                          # OS area 4 x 160 mm2 > 17^2: factor 1.75
    soc_module = mod * 60 / cpu_units + mod * 100 / 4e5
    soc_chip = (chip * 160 + fixed) / 4e5
    soc_pkg = (640 * 3e3 * 1 + 3e5) / 4e5
    assert got["x2"].module == pytest.approx(x2_module, rel=1e-12)
    assert got["x2"].d2d == pytest.approx(x2_d2d, rel=1e-12)
    assert got["x2"].chip == pytest.approx(x2_chip, rel=1e-12)
    assert got["x2"].package == pytest.approx(x2_pkg, rel=1e-12)
    assert got["soc"].per_unit == pytest.approx(soc_module + soc_chip + soc_pkg, rel=1e-12)
    # reuse: the CPU module's NRE is paid once and spread over both products
    alone = family_nre(fam[:1], p)[0]
    assert alone.module > got["x2"].module
