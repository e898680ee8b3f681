"""One vocabulary in the API and on the command line: the same unit strings as the layout files, numbers
shown twice agree, names say what a number is. No solves here (fast)."""

import types

import pytest

import codesign as cd
from codesign.units import UnitError


@pytest.fixture(scope="module")
def demo():
    return cd.load_layout("demo")


def test_with_chiplet_takes_unit_strings_and_si_floats(demo):
    a = demo.with_chiplet("logic", power="120 W", tj_max="100 degC", active_thickness="20 um")
    b = demo.with_chiplet("logic", power=120.0, tj_max=373.15, active_thickness=20e-6)
    ca, cb = a.chiplet("logic"), b.chiplet("logic")
    assert ca.power == cb.power == 120.0
    assert ca.tj_max == pytest.approx(cb.tj_max) and ca.active_thickness == pytest.approx(cb.active_thickness)
    assert demo.with_layer("tim1", thickness="25 um").layer("tim1").thickness == pytest.approx(25e-6)


def test_with_chiplet_power_is_the_uniform_part_and_total_power_scales_everything(demo):
    """`power` is the uniform power, as in the file: the demo's 60 W block adds on top (120 W -> 180 W);
    `total_power` sets the die's total and keeps how it is spread."""
    logic = demo.chiplet("logic")
    blocks = sum(b.power for b in logic.power_blocks)
    assert blocks > 0  # the demo's logic die has a power block: the case the docstring describes
    assert demo.with_chiplet("logic", power="120 W").chiplet("logic").total_power == pytest.approx(120.0 + blocks)
    t = demo.with_chiplet("logic", total_power="120 W").chiplet("logic")
    assert t.total_power == pytest.approx(120.0)
    f = 120.0 / logic.total_power
    assert t.power == pytest.approx(logic.power * f)
    assert [b.power for b in t.power_blocks] == pytest.approx([b.power * f for b in logic.power_blocks])


@pytest.mark.parametrize("kw, words", [({"power": "120 K"}, ["power='120 K'", "not a power"]),
                                       ({"power": [1]}, ["power=[1]", "unit string"]),
                                       ({"tj_max": "hot"}, ["tj_max='hot'"])])
def test_with_chiplet_bad_quantity_names_the_call_and_the_field(demo, kw, words):
    with pytest.raises(UnitError) as e:
        demo.with_chiplet("logic", **kw)
    assert "with_chiplet('logic'" in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_hbm_power_in_the_link_table_is_the_power_the_solve_uses(demo):
    """The link table said '20 W/stack (placeholder)' where the layout's HBM dissipates 8 W."""
    links = cd.evaluate_links(demo)
    assert links.hbm
    for h in links.hbm:
        assert h.stack_power == pytest.approx(demo.chiplet(h.stack).total_power)
    text = links.table()
    assert "placeholder" not in text and f"{demo.chiplet('hbm0').total_power:.3g} W (layout power of the stack)" in text


def test_derating_text_says_derating_or_up_rating():
    from codesign.viz.report import derating_text

    d = types.SimpleNamespace(scale=1.66, frequency_factor=1.18, pf_model="cubic", limiting="gpu")
    assert derating_text(d).startswith("headroom (up-rating): dynamic power may rise x1.660")
    d.scale, d.frequency_factor = 0.8, 0.93
    assert derating_text(d).startswith("derating: dynamic power x0.800")
    d.limiting = "runaway"
    assert "thermal runaway" in derating_text(d)


def test_sweep_parameters_print_in_the_units_a_user_writes():
    from codesign.explore.sweep import SweepParameter, format_parameter

    assert format_parameter(SweepParameter("thickness", "tim1", "value"), 2.5e-05) == "25 um"
    assert format_parameter(SweepParameter("thickness", "lid", "value"), 1.5e-3) == "1.5 mm"
    assert format_parameter(SweepParameter("heat_transfer_coefficient", "top", "value"), 2e4) == "20,000 W/m^2/K"
    assert format_parameter(SweepParameter("ambient", "top", "value"), 318.15) == "45 degC"
    assert format_parameter(SweepParameter("power", "logic", "scale"), 0.6) == "x0.6"
    assert format_parameter(SweepParameter("material", "interposer", "value"), "glass") == "glass"


def test_report_numbers_read_well():
    from codesign.viz.report import _eng, _length, solver_rows

    assert _eng(2e4) == "20,000" and _eng(0.0263) == "0.0263" and _eng(819.2) == "819"
    assert _length(25e-6) == "25 um" and _length(1.5e-3) == "1.5 mm"
    labels = [r["statistic"] for r in solver_rows({"nonlinear_iterations": 0, "solve_s": 1.0, "new_s": 2.0})]
    assert labels[0].startswith("Picard iterations") and labels[1] == "solve time [s]" and labels[2] == "new time [s]"
