"""Sweep results files under concurrency and faults (issue 17, item 3): one writer per file (a second
is told which process holds it), whole-row appends, resume past any damaged tail, I/O errors as one
ResultsFileError saying what the file keeps, and output names never taken from file content.

The solves are replaced by :func:`fake_evaluate` (rows shaped like real ones, a chosen delay per
chunk), so these tests exercise the file handling alone, in a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import codesign.explore.sweep as sw
from codesign.explore.sweep import (ResultsFileError, ResultsFileWarning, default_results_path, loads_sweep_spec,
                                    read_results, run_sweep, variant_key)

TESTS = Path(__file__).resolve().parent
SPEC = """
name = "results_test"
layout = "demo"
chunk_size = 1
[[parameters]]
kind = "power"
target = "logic"
scale = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
"""
N = 12


def fake_evaluate(spec, variants, *, method="auto"):
    """Rows like :func:`codesign.explore.sweep.evaluate_variants`' without a solve (FAKE_DELAY s per chunk)."""
    time.sleep(float(os.environ.get("FAKE_DELAY", "0")))
    hold = os.environ.get("FAKE_HOLD")          # a file: wait for it before each chunk (a writer held open)
    t0 = time.time()
    while hold and not os.path.exists(hold) and time.time() - t0 < 300:
        time.sleep(0.05)
    return [{"key": variant_key(spec, v), "params": dict(v), "tj_C": {"logic": 50.0 + 10 * i},
             "max_temperature_C": 50.0 + sum(float(x) for x in v.values()), "total_power_W": 100.0,
             "energy_residual": 1e-12, "converged": True, "iterations": 3, "relative_residual": 1e-9}
            for i, v in enumerate(variants)]


@pytest.fixture
def spec():
    return loads_sweep_spec(SPEC, source="results_test.toml")


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(sw, "evaluate_variants", fake_evaluate)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")


def _assert_whole(path: Path, n: int) -> None:
    """Exactly ``n`` rows, one per line, each valid JSON with a unique key, and nothing else."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.decode("utf-8").splitlines()]
    keys = [r["key"] for r in rows]
    assert len(rows) == n and len(set(keys)) == n


_WORKER = """
import json, os, resource, signal, sys
sys.path.insert(0, {tests!r})
limit = int(os.environ.get("FSIZE_LIMIT", "0"))
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)     # a write past the limit fails with EFBIG, as on a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
import test_results_file as t
import codesign.explore.sweep as sw
sw.evaluate_variants = t.fake_evaluate
spec = sw.loads_sweep_spec(t.SPEC)
try:
    r = sw.run_sweep(spec, sys.argv[1], resume=True, progress=None)
    print("@@" + json.dumps({{"computed": r.computed, "skipped": r.skipped}}))
except sw.ResultsFileError as e:
    print("@@" + json.dumps({{"error": str(e)}}))
"""


def _worker(out: Path, **env) -> subprocess.Popen:
    code = _WORKER.format(tests=str(TESTS))
    return subprocess.Popen([sys.executable, "-c", code, str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "JAX_PLATFORMS": "cpu", **env}, stdin=subprocess.DEVNULL)


def _result(p: subprocess.Popen, timeout=120) -> dict:
    out, err = p.communicate(timeout=timeout)
    lines = [ln for ln in out.splitlines() if ln.startswith("@@")]
    assert lines, f"worker failed (exit {p.returncode}):\n{err[-3000:]}"
    return json.loads(lines[-1][2:])


def test_a_second_writer_is_refused_with_the_other_process_named(tmp_path):
    """Two `--resume` sweeps on one file used to both run: 30 of 72 rows overwritten, duplicates, a torn line."""
    out = tmp_path / "r.jsonl"
    go = tmp_path / "go"
    a = _worker(out, FAKE_HOLD=str(go))          # holds the file until `go` exists, however slow the machine
    t0 = time.time()
    while not (out.is_file() and out.with_name("r.jsonl.lock").is_file()) and time.time() - t0 < 60:
        time.sleep(0.05)
    assert a.poll() is None, "the first writer ended before the second one started"
    b = _worker(out)
    rb = _result(b)
    assert "error" in rb, rb
    assert f"is being written by another sweep (pid {a.pid} on " in rb["error"]
    assert "give another results file (-o)" in rb["error"]
    go.touch()
    ra = _result(a)
    assert ra == {"computed": N, "skipped": 0}
    _assert_whole(out, N)
    assert not out.with_name("r.jsonl.lock").exists()      # the holder removes its note
    rc = _result(_worker(out))                               # the file is free again
    assert rc == {"computed": 0, "skipped": N}
    _assert_whole(out, N)


def test_writers_in_one_process_also_exclude_each_other(spec, fake, tmp_path):
    out = tmp_path / "r.jsonl"
    holder = sw._ResultsFile(out, resume=True)
    try:
        with pytest.raises(ResultsFileError, match=rf"being written by another sweep \(pid {os.getpid()} on "):
            run_sweep(spec, out, resume=True, progress=None)
        with pytest.raises(FileExistsError, match="--resume"):
            run_sweep(spec, out, progress=None)
    finally:
        holder.close()
    assert run_sweep(spec, out, resume=True, progress=None).computed == N


@pytest.mark.parametrize("tail, what", [
    (b'{"key": "0123', "a torn last line"),
    (b'{"key": "0123456789abcdef", "params": {}, "max_temp\xff\xfe\n', "invalid UTF-8, with its newline"),
    (b"\xff\xfe\xfd", "invalid UTF-8 at the very end"),
    (b"\x00" * 5000, "NUL bytes from a crash of the file system"),
    (b"{" + b"x" * (sw.MAX_RESULT_LINE + 10), "an endless line"),
    (b'{"key": "0123456789abcdef"}\n{"key":', "an incomplete row and a torn line"),
    (b'{"key": "0123456789abcdef", "params": {}, "max_temperature_C": 1' + b"0" * 400 + b', "total_power_W": 1}\n',
     "a row whose temperature no float holds"),
])
def test_resume_cuts_off_any_damaged_tail_and_says_what_was_kept(spec, fake, tmp_path, tail, what):
    """Invalid UTF-8 at the end of a results file used to crash `--resume` (UnicodeDecodeError)."""
    out = tmp_path / "r.jsonl"
    run_sweep(spec, out, max_chunks=5, progress=None)
    good = out.read_bytes()
    with open(out, "ab") as fh:
        fh.write(tail)
    assert [r["key"] for r in read_results(out)] == [json.loads(x)["key"] for x in good.splitlines()]  # no crash
    with pytest.warns(ResultsFileWarning, match=rf"kept 5 rows; cut off a damaged tail of {len(tail):,} bytes"):
        r = run_sweep(spec, out, resume=True, progress=None)
    assert r.skipped == 5 and r.computed == N - 5 and len(r.rows) == N
    assert out.read_bytes().startswith(good)
    _assert_whole(out, N)


def test_resume_warning_goes_to_the_progress_stream_in_one_line(spec, fake, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    run_sweep(spec, out, max_chunks=3, progress=None)
    with open(out, "ab") as fh:
        fh.write(b'{"key": "ab')
    run_sweep(spec, out, resume=True, progress=sys.stderr)
    err = capsys.readouterr().err
    warning = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "kept 3 rows; cut off a damaged tail of 11 bytes" in warning[0]


def test_damage_between_rows_is_skipped_and_left_in_place(spec, fake, tmp_path):
    out = tmp_path / "r.jsonl"
    run_sweep(spec, out, max_chunks=2, progress=None)
    lines = _lines(out)
    out.write_bytes(lines[0] + b"\n\xff garbage\n" + lines[1] + b"\n")
    with pytest.warns(ResultsFileWarning, match=r"skipped 1 damaged line\(s\) between result rows"):
        r = run_sweep(spec, out, resume=True, progress=None)
    assert r.skipped == 2 and r.computed == N - 2 and len(r.rows) == N
    assert b"\n\xff garbage\n" in out.read_bytes() and len(read_results(out)) == N


def test_a_file_that_is_not_a_results_file_is_left_alone(spec, fake, tmp_path):
    out = tmp_path / "notes.txt"
    text = b"my notes\nabout the sweep\n"
    out.write_bytes(text)
    with pytest.raises(ResultsFileError, match="is not a sweep results file .* it was left as it is"):
        run_sweep(spec, out, resume=True, progress=None)
    assert out.read_bytes() == text
    out.write_bytes(b"not json at all")
    with pytest.raises(ResultsFileError, match="is not a sweep results file"):
        run_sweep(spec, out, resume=True, progress=None)
    assert out.read_bytes() == b"not json at all"


def test_a_full_disk_leaves_whole_rows_and_says_how_many(tmp_path):
    """A write that fails part-way (here: a file size limit, as a full disk) is cut back to the last whole
    row; the error says how many the file keeps, and a resume completes the sweep."""
    out = tmp_path / "r.jsonl"
    row = len(json.dumps(fake_evaluate(loads_sweep_spec(SPEC), [{"power:logic/scale": 0.5}])[0], sort_keys=True)) + 1
    limit = int(4.5 * row)
    res = _result(_worker(out, FSIZE_LIMIT=str(limit)))
    assert "error" in res, res
    assert "cannot write the results" in res["error"] and "the file keeps 4 complete rows (4 from this run)" in \
        res["error"] and "run again with --resume" in res["error"]
    _assert_whole(out, 4)
    assert _result(_worker(out)) == {"computed": N - 4, "skipped": 4}
    _assert_whole(out, N)


def test_an_unwritable_place_is_one_clean_error(spec, fake, tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(ResultsFileError, match="cannot create the folder .*nothing was written"):
        run_sweep(spec, blocker / "r.jsonl", progress=None)
    with pytest.raises(ResultsFileError, match="cannot open the results file for writing: Is a directory"):
        run_sweep(spec, tmp_path, resume=True, progress=None)
    # a read-only folder (as root, permissions do not stop a write: refuse the open as a read-only mount would)
    real_open = os.open

    def read_only(path, flags, *a, **k):
        if str(path).startswith(str(tmp_path / "ro")) and flags & (os.O_WRONLY | os.O_RDWR):
            raise OSError(30, "Read-only file system", str(path))
        return real_open(path, flags, *a, **k)

    (tmp_path / "ro").mkdir()
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(ResultsFileError, match="cannot open the results file for writing: Read-only file system"):
        run_sweep(spec, tmp_path / "ro" / "r.jsonl", progress=None)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_one_clean_error(spec, fake, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ResultsFileError, match="Permission denied"):
            run_sweep(spec, ro / "r.jsonl", progress=None)
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("name, expected", [
    ("../../etc/cron.d/job", "etc_cron.d_job.jsonl"),
    ("/etc/passwd", "etc_passwd.jsonl"),
    ("..", "sweep.jsonl"),
    ("", "sweep.jsonl"),
    (".hidden", "hidden.jsonl"),
    ("a\x00b", "a_b.jsonl"),
    ("débit ü", "d_bit_.jsonl"),
    ("x" * 500, "x" * 100 + ".jsonl"),
    ("demo_sweep", "demo_sweep.jsonl"),
])
def test_default_output_name_never_leaves_the_folder(spec, name, expected):
    """A spec's `name` chose where results were written (`name = "../../x"`: path traversal)."""
    p = default_results_path(dataclasses.replace(spec, name=name))
    assert p == Path(expected) and p.parent == Path(".")
    assert default_results_path(dataclasses.replace(spec, name=name), tmp := Path("/some/folder")).parent == tmp


def test_spec_names_with_control_characters_are_refused():
    with pytest.raises(sw.SweepSpecError, match=r"name: contains a control character"):
        loads_sweep_spec(SPEC.replace('"results_test"', '"a\\u0000b"'), source="s.toml")
    with pytest.raises(sw.SweepSpecError, match=r"name: 300 characters, more than the 200 allowed"):
        loads_sweep_spec(SPEC.replace('"results_test"', '"' + "n" * 300 + '"'), source="s.toml")


def test_read_results_refuses_what_is_not_a_file(tmp_path):
    assert read_results(tmp_path / "missing.jsonl") == []
    with pytest.raises(ResultsFileError, match="is not a regular file"):
        read_results(tmp_path)
    os.mkfifo(tmp_path / "fifo")              # opening a FIFO would wait for a writer forever
    with pytest.raises(ResultsFileError, match="is not a regular file"):
        read_results(tmp_path / "fifo")
