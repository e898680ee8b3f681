"""Power traces: reading with units and errors; a transient on a coarse demo mesh."""

import numpy as np
import pytest

import codesign as cd
from codesign.transient import PowerTraceError, analyse_transient, read_power_trace


@pytest.fixture(scope="module")
def stack():
    return cd.load_layout("demo")


def write(tmp_path, text):
    p = tmp_path / "trace.csv"
    p.write_text(text)
    return p


def test_trace_units_are_converted(tmp_path, stack):
    t, names, w = read_power_trace(write(tmp_path, "# comment\ntime [ms], logic [W], hbm0 [mW]\n0, 100, 8000\n5, 20, 8000\n"), stack)
    assert t.tolist() == [0.0, 5e-3] and names == ["logic", "hbm0"]
    np.testing.assert_allclose(w, [[100, 8], [20, 8]])


@pytest.mark.parametrize("text, message", [
    ("time, logic [W]\n0, 1\n", r"needs a unit in brackets"),
    ("t [s], logic [W]\n0, 1\n", r"first column must be 'time"),
    ("time [s], logik [W]\n0, 1\n", r"'logik' is not a chiplet .* did you mean 'logic'"),
    ("time [s], logic [K]\n0, 1\n", r"row 2: .*expected a power"),
    ("time [s], logic [W]\n0, 1\n0, 2\n", r"must increase strictly"),
    ("time [s], logic [W]\n0, -1\n", r"must not be negative"),
    ("time [s], logic [W]\n0\n", r"row 2 has 1 cells"),
    ("time [s], logic [W]\n", r"at least one data row"),
])
def test_trace_errors_name_file_row_and_fix(tmp_path, stack, text, message):
    with pytest.raises(PowerTraceError, match=message):
        read_power_trace(write(tmp_path, text), stack)


def test_unit_pattern_is_one_watt(stack):
    m = cd.build(stack, max_lateral_size=2e-3)
    for name in ("logic", "hbm0"):
        assert float(np.sum(m.chiplet_pattern(name) * m.grid.cell_volumes())) == pytest.approx(1.0, rel=1e-12)


def test_transient_follows_the_trace_and_conserves_input(tmp_path, stack):
    m = cd.build(stack, max_lateral_size=3e-3, max_vertical_size=500e-6, cells_per_layer=1)
    trace = read_power_trace(write(tmp_path, "time [s], logic [W]\n0, 100\n1, 0\n"), stack)
    r = analyse_transient(m, trace, duration=2.0, dt=0.05, n_outputs=8)
    # Input power: logic 100 W (then 0) plus both HBM stacks at their layout 8 W each.
    before = r.times <= 1.0 + 1e-9  # a step ending at t reports the power applied over that step
    np.testing.assert_allclose(r.power_in[before], 116.0, rtol=1e-9)
    np.testing.assert_allclose(r.power_in[~before], 16.0, rtol=1e-9)
    j = r.junction["logic"]
    peak, at = r.peak("logic")
    assert at == pytest.approx(1.0, abs=1e-6)  # hottest when the power steps down
    assert j[-1] < peak  # cooling after the step
    assert r.solver["converged"]
