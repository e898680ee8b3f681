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
    ("time [s], logic [K]\n0, 1\n", r"row 1 \(the header\): unit 'K' is not a power"),
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
    # The mesh, output count (the default 60, and the instant before the breakpoint) and step count of
    # tests/test_cli.py's `codesign run demo --transient ... --lateral-size 4 mm`: one transient program for both.
    m = cd.build(stack, max_lateral_size=4e-3, min_lateral_size=4e-3, grading=1.0)
    trace = read_power_trace(write(tmp_path, "time [s], logic [W]\n0, 100\n1, 0\n"), stack)
    r = analyse_transient(m, trace, duration=2.0, dt=0.05)
    # Input power: logic 100 W (then 0) plus both HBM stacks at their layout 8 W each.
    before = r.times <= 1.0 + 1e-9  # a step ending at t reports the power applied over that step
    np.testing.assert_allclose(r.power_in[before], 116.0, rtol=1e-9)
    np.testing.assert_allclose(r.power_in[~before], 16.0, rtol=1e-9)
    j = r.junction["logic"]
    peak, at = r.peak("logic")
    assert at == pytest.approx(1.0, abs=1e-6)  # hottest when the power steps down
    assert j[-1] < peak  # cooling after the step
    assert r.solver["converged"]


# -- hardening (issue 17): any file ends in a result or a PowerTraceError ---------------------------

@pytest.mark.parametrize("text, message", [
    ("time [s], logic [W]\n0, 1e300\n", r"row 2: a power above 100000 W"),
    ("time [s], logic [W]\n0, nan\n", r"row 2, column 2: not a number"),
    ("time [s], logic [W]\n0, inf\n", r"row 2, column 2: not a number"),
    ("time [s], logic [TW]\n0, 1e300\n", r"row 2, column 2: .*overflows"),
    ("time [s], logic [W]\n1e400, 1\n", r"row 2, column 1: .*overflows|finite"),
    ("time [s], logic [W^999]\n0, 1\n", r"row 1 \(the header\): .*exponent"),
    ("time [s], logic" + " " * 50_000 + "\n0, 1\n", r"header column 2 needs a unit in brackets"),
    ('time [s], logic [W]\n0, "' + "1" * 200_000 + '"\n', r"not a readable CSV file"),
    ("root:x:0:0:secret, logic [W]\n0, 1\n", r"header column 1 needs a unit"),
])
def test_malformed_traces_are_trace_errors(tmp_path, stack, text, message):
    """Before: 1e300 W and nan were accepted; [W^999] raised OverflowError; padded headers were quadratic."""
    with pytest.raises(PowerTraceError, match=message) as info:
        read_power_trace(write(tmp_path, text), stack)
    assert "secret" not in str(info.value) and len(str(info.value)) < 400


def test_trace_size_and_rows_are_capped_before_reading(tmp_path, stack):
    big = write(tmp_path, "time [s], logic [W]\n" + "".join(f"{i}, 1\n" for i in range(2000)))
    with pytest.raises(PowerTraceError, match=r"more than the 1,000 bytes"):
        read_power_trace(big, stack, max_bytes=1000)
    with pytest.raises(PowerTraceError, match=r"more than 100 data rows \(max_rows\)"):
        read_power_trace(big, stack, max_rows=100)
    t, _, w = read_power_trace(big, stack)
    assert len(t) == 2000 and w.shape == (2000, 1)


def test_trace_files_that_are_not_text(tmp_path, stack):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(PowerTraceError, match="cannot open"):
        read_power_trace(loop, stack)
    with pytest.raises(PowerTraceError, match="not a regular file"):
        read_power_trace(tmp_path, stack)
    (tmp_path / "bin.csv").write_bytes(b"time [s], logic [W]\n0, 1\x00\n")
    with pytest.raises(PowerTraceError, match="NUL"):
        read_power_trace(tmp_path / "bin.csv", stack)
