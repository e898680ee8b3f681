"""The PHY library: hand-computed densities and bandwidths, sources on every value, overrides."""

import dataclasses
import math

import pytest

from codesign.phys import (
    AUTO_CANDIDATES,
    PHYS,
    PhyError,
    PhySpec,
    get_phy,
    hybrid_bond_energy,
    phys_from_toml,
    ucie_3d,
)

GB = 8e9  # bit/s per GB/s


def test_every_value_has_a_source_and_placeholders_are_labelled():
    for name, spec in PHYS.items():
        src = dict(spec.sources)
        for f in PhySpec.VALUE_FIELDS:
            if getattr(spec, f) is None:
                continue
            assert src.get(f, "").strip(), f"{name}.{f} has no source"
    # parameters.md marks these UNSOURCED: they must be labelled placeholders.
    for gen in ("HBM2E", "HBM3", "HBM3E", "HBM4"):
        assert "energy_per_bit" in PHYS[gen].placeholders
        assert PHYS[gen].source("stack_power").startswith("tool")  # the 20 W TAP-2.5D assumption
    assert "lanes" in PHYS["BoW-16"].placeholders
    assert "energy_per_bit" in PHYS["AIB-2.0"].placeholders and "module_width" not in PHYS["AIB-2.0"].placeholders
    assert "energy_per_bit" in PHYS["LR-112G"].placeholders
    assert "bump_pitch" in PHYS["Foveros"].placeholders
    assert set(PHYS["NV-HBI"].placeholders) == {k for k, _ in PHYS["NV-HBI"].sources}
    # Sourced values are not labelled as placeholders.
    for name in ("UCIe-A-32", "UCIe-S-16", "UCIe-3D-9um", "HBM3", "XSR-112G", "CPO-6.4T"):
        for f in ("transfer_rate", "lanes"):
            assert f not in PHYS[name].placeholders, (name, f)
    assert "energy_per_bit" not in PHYS["UCIe-A-32"].placeholders
    assert "energy_per_bit" in PHYS["UCIe-A-64"].placeholders  # UCIe 3.0 rates have no energy target


def test_ucie_module_bandwidth_and_shoreline_by_hand():
    # x64 @ 32 GT/s = 2048 Gb/s = 256 GB/s per direction; x16 @ 32 = 64 GB/s [parameters.md §1, derived].
    assert PHYS["UCIe-A-32"].module_bandwidth == pytest.approx(256 * GB)
    assert PHYS["UCIe-S-32"].module_bandwidth == pytest.approx(64 * GB)
    assert PHYS["UCIe-A-4"].lane_rate == 4e9 and PHYS["UCIe-S-64"].lane_rate == 64e9
    # Shoreline density (TX + RX) reproduces the spec figures: 1317 and 224 GB/s/mm at 32 GT/s,
    # and the bottom of the 165–1317 / 28–224 ranges at 4 GT/s.
    per_mm = 1e-3 / GB
    assert PHYS["UCIe-A-32"].shoreline_density * per_mm == pytest.approx(1317)
    assert PHYS["UCIe-S-32"].shoreline_density * per_mm == pytest.approx(224)
    assert PHYS["UCIe-A-4"].shoreline_density * per_mm == pytest.approx(164.6, abs=0.1)
    assert PHYS["UCIe-S-4"].shoreline_density * per_mm == pytest.approx(28)
    # Module width = 2 x 256 GB/s / 1317 GB/s/mm = 0.3888 mm; areal 1.35 TB/s/mm^2 at 45 um.
    assert PHYS["UCIe-A-32"].module_width == pytest.approx(512 / 1317 * 1e-3)
    assert PHYS["UCIe-A-32"].areal_density * 1e-6 / GB == pytest.approx(1350)
    # Energy targets: 0.25 / 0.3 pJ/b (A), 0.5 / 0.6 (S), boundary at 16 GT/s.
    assert PHYS["UCIe-A-16"].energy_per_bit == 0.25e-12 and PHYS["UCIe-A-24"].energy_per_bit == 0.3e-12
    assert PHYS["UCIe-S-16"].energy_per_bit == 0.5e-12 and PHYS["UCIe-S-32"].energy_per_bit == 0.6e-12
    assert PHYS["UCIe-A-32"].reach == 2e-3 and PHYS["UCIe-S-32"].reach == 25e-3
    assert {f"UCIe-{v}-{g}" for v in "SA" for g in (4, 8, 12, 16, 24, 32, 48, 64)} <= set(PHYS)


@pytest.mark.parametrize("pitch_um, per_mm2", [(10, 10_000), (9, 12_346), (6, 27_778), (3, 111_111), (1, 1_000_000)])
def test_hybrid_bond_density_is_one_over_pitch_squared(pitch_um, per_mm2):
    assert ucie_3d(pitch_um * 1e-6).bump_density * 1e-6 == pytest.approx(per_mm2, abs=0.5)


def test_hybrid_bond_bandwidth_and_energy_versus_pitch():
    p9, p1 = ucie_3d(9e-6), ucie_3d(1e-6)
    assert p9.areal_density * 1e-6 / GB == pytest.approx(4000)  # UCIe 2.0 Table 1-5 (2nd)
    assert p1.areal_density * 1e-6 / GB / 1e3 == pytest.approx(300, rel=0.08)  # "up to 300 TB/s/mm^2"
    assert p9.energy_per_bit == pytest.approx(0.05e-12) and p1.energy_per_bit == pytest.approx(0.01e-12)
    assert hybrid_bond_energy(3e-6) < hybrid_bond_energy(6e-6) < hybrid_bond_energy(9e-6)
    assert "EXTRAPOLATED" in ucie_3d(25e-6).source("energy_per_bit")
    with pytest.raises(PhyError, match=r"ucie_3d\(pitch=9\)"):
        ucie_3d(9)  # micrometres instead of metres


def test_hbm_bus_width_rate_and_stack_bandwidth():
    assert PHYS["HBM3"].module_bandwidth == pytest.approx(819.2 * GB)  # 1024 x 6.4 Gb/s
    assert PHYS["HBM2E"].module_bandwidth == pytest.approx(409.6 * GB)
    assert PHYS["HBM3E"].module_bandwidth == pytest.approx(1177.6 * GB)
    assert PHYS["HBM4"].lanes == 2048 and PHYS["HBM4"].module_bandwidth == pytest.approx(2048 * GB)
    assert PHYS["HBM3"].duplex == "half" and PHYS["HBM3"].traffic_factor == 1.0 and PHYS["HBM3"].max_modules == 1


def test_optics_energy_from_port_power():
    cpo, plug = PHYS["CPO-6.4T"], PHYS["pluggable-1.6T"]
    assert cpo.module_bandwidth == pytest.approx(6.4e12)  # 51.2 T / 8 engines
    assert cpo.energy_per_bit == pytest.approx(5.625e-12)  # 9 W / 1.6 Tb/s
    assert plug.energy_per_bit == pytest.approx(18.75e-12)  # 30 W / 1.6 Tb/s
    assert PHYS["CPO-Bailly"].energy_per_bit == pytest.approx(6.875e-12)  # 5.5 W / 800 Gb/s
    assert cpo.traffic_factor == 1.0 and cpo.alternative == "pluggable-1.6T"


def test_lookup_aliases_case_and_suggestions():
    assert get_phy("UCIe-A").name == "UCIe-A-32" and get_phy("hybrid_bond").name == "UCIe-3D-9um"
    assert get_phy("hbm3").name == "HBM3" and get_phy("optical").name == "CPO-6.4T"
    with pytest.raises(PhyError, match=r"unknown PHY 'UCIe-AA'; did you mean 'UCIe-A'"):
        get_phy("UCIe-AA")
    assert "BoW-16" not in AUTO_CANDIDATES and "NV-HBI" not in AUTO_CANDIDATES


def test_overrides_with_replace_and_validation():
    fast = dataclasses.replace(PHYS["UCIe-A-32"], energy_per_bit=0.1e-12)
    assert fast.energy_per_bit == 0.1e-12 and PHYS["UCIe-A-32"].energy_per_bit == 0.3e-12
    relabelled = PHYS["UCIe-A-32"].with_values("my measurement", reach=3e-3)
    assert relabelled.source("reach") == "my measurement"
    with pytest.raises(PhyError, match="reach must be a positive"):
        dataclasses.replace(PHYS["UCIe-A-32"], reach=-1.0)
    with pytest.raises(PhyError, match="no source for"):
        dataclasses.replace(PHYS["UCIe-A-32"], sources=())
    assert hash(PHYS["HBM3"]) == hash(PHYS["HBM3"])


def test_phys_from_toml():
    p = phys_from_toml({"fast_a": {"base": "UCIe-A-32", "energy_per_bit": "0.2 pJ/bit", "lanes": 32,
                                   "transfer_rate": "16 GT/s", "source": "vendor X, 2025"}})
    spec = p["fast_a"]
    assert spec.name == "fast_a" and spec.energy_per_bit == pytest.approx(0.2e-12)
    assert spec.module_bandwidth == pytest.approx(32 * 16e9)
    assert spec.source("lanes") == "vendor X, 2025"
    with pytest.raises(PhyError, match=r"phys.x.source: give a source"):
        phys_from_toml({"x": {"base": "UCIe-A-32", "reach": "3 mm"}})
    with pytest.raises(PhyError, match=r"phys.y.base: unknown PHY 'UCIe-Q'.*did you mean"):
        phys_from_toml({"y": {"base": "UCIe-Q"}})
    with pytest.raises(PhyError, match=r"phys.z.reech: unknown field; did you mean 'reach'"):
        phys_from_toml({"z": {"base": "HBM3", "reech": "3 mm", "source": "s"}})
    with pytest.raises(PhyError, match=r"phys.w.reach"):
        phys_from_toml({"w": {"base": "HBM3", "reach": "3 W", "source": "s"}})
    assert math.isclose(phys_from_toml({"HBM3": {}})["HBM3"].module_bandwidth, 819.2 * GB)
