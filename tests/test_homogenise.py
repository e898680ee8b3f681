"""Homogenised interconnect and HBM materials against hand calculations."""

import math

import pytest

import codesign as cd
from codesign.homogenise import area_fraction, hbm_recipe, homogenise_hbm
from codesign.materials import BUILTIN_MATERIALS as M
from codesign.stack import HBMStack, Interconnect


def test_microbump_layer_by_hand():
    # d = 25 um at 45 um pitch: f = pi 25^2 / (4 45^2) = 0.242406
    spec = Interconnect("microbump", pitch=45e-6, diameter=25e-6, material="sac305", fill="underfill")
    f = math.pi * 25**2 / (4 * 45**2)
    assert area_fraction(45e-6, 25e-6) == pytest.approx(0.2424068, rel=1e-6)
    m = cd.homogenise_interconnect(spec, M["sac305"], M["underfill"], name="ub")
    assert m.kz == pytest.approx(f * 58.0 + (1 - f) * 0.6, rel=1e-12)  # 14.5137
    assert m.kz == pytest.approx(14.5137, rel=1e-4)
    # Rayleigh, by hand: 0.6 * (58.6 + f*57.4) / (58.6 - f*57.4) = 0.97364
    assert m.kx == pytest.approx(0.97364, rel=1e-4)
    assert m.kx == m.ky
    series = 1 / (f / 58.0 + (1 - f) / 0.6)
    assert series < m.kx < m.kz  # within the Wiener bounds
    assert m.heat_capacity == pytest.approx(f * M["sac305"].heat_capacity + (1 - f) * M["underfill"].heat_capacity)


def test_dilute_tsv_field_barely_changes_silicon():
    spec = Interconnect("tsv", pitch=100e-6, diameter=10e-6, material="copper", fill="silicon")
    m = cd.homogenise_interconnect(spec, M["copper"], M["silicon"], name="tsv")
    f = area_fraction(100e-6, 10e-6)  # 0.00785
    assert m.kz == pytest.approx(148 + f * (401 - 148), rel=1e-12)
    assert 148 < m.kx < m.kz


def test_hbm_stack_by_hand():
    bond = Interconnect("microbump", pitch=55e-6, diameter=25e-6, material="sac305", fill="underfill")
    hbm = HBMStack("HBM3", dram_dies=4, die_thickness=50e-6, bond_thickness=20e-6, base_die_thickness=60e-6,
                   bond=bond)
    bond_m = cd.homogenise_interconnect(bond, M["sac305"], M["underfill"], name="b")
    layers = hbm_recipe(hbm, 500e-6, "silicon").layers
    assert sum(t for t, _ in layers) == pytest.approx(500e-6)
    assert layers[-1] == (pytest.approx(500e-6 - 60e-6 - 4 * 70e-6), "silicon")  # silicon cap
    m = homogenise_hbm(hbm, 500e-6, M["silicon"], (M["sac305"], M["underfill"]), name="h")
    assert set(m.recipe.parents) == {"silicon", "sac305", "underfill"}
    t_si = 500e-6 - 4 * 20e-6
    assert m.kz == pytest.approx(500e-6 / (t_si / 148 + 80e-6 / bond_m.kz), rel=1e-12)
    assert m.kx == pytest.approx((t_si * 148 + 80e-6 * bond_m.kx) / 500e-6, rel=1e-12)


def test_layout_materials_are_homogenised_on_load():
    stack = cd.load_layout("demo")
    names = {m.name for m in stack.materials}
    assert {"microbumps:microbump", "interposer:tsv", "c4:c4", "hbm:hbm0"} <= names
    ub = stack.material("microbumps:microbump")
    assert ub.kz == pytest.approx(14.5137, rel=1e-4)
    assert "Rayleigh" in ub.source
