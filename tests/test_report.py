"""The report folder: every file the page links to exists, the page fetches nothing from outside, and
`write_report` takes a run and builds every table itself."""

import json
from concurrent.futures import Future
from html.parser import HTMLParser

import numpy as np
import pytest


from _imaging import n_colours  # noqa: E402
import codesign as cd  # noqa: E402
from codesign.mesh import read_vtu  # noqa: E402
from codesign.pipeline import LayoutRun  # noqa: E402
from codesign.viz.report import html_table, write_report  # noqa: E402


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href"):
                self.links.append(v)


@pytest.fixture(scope="module")
def written(coarse_report, tmp_path_factory):
    """The report of a run that has only a thermal result (the session's coarse demo solve)."""
    out = tmp_path_factory.mktemp("report")
    run = LayoutRun(stack=coarse_report.model.stack, thermal=coarse_report)
    return write_report(run, out), coarse_report


def test_page_links_resolve_and_nothing_is_external(written):
    index, _ = written
    assert index.name == "index.html" and index.is_file()
    page = index.read_text(encoding="utf-8")
    parser = _Links()
    parser.feed(page)
    assert parser.links, "the page links to nothing"
    for link in parser.links:
        assert "://" not in link and not link.startswith("/"), link
        assert (index.parent / link).is_file(), f"{link} is linked but missing"
    assert "script" not in parser.tags and "link" not in parser.tags  # no JS, no external CSS
    assert "http" not in page.lower()
    for name in ("hotspots.png", "layer_maps.png", "run.json", "temperature.vtu"):
        assert name in parser.links


def test_page_has_the_tables(written):
    index, report = written
    page = index.read_text(encoding="utf-8")
    for heading in ("Chiplet temperatures", "Energy balance", "Solver", "Layers"):
        assert f"<h2>{heading}" in page
    for heading in ("Links", "PPAC", "Leakage", "Thermal derating"):  # the run computed none of them
        assert f"<h2>{heading}" not in page
    for c in report.chiplets:
        assert f"<td>{c.name}</td>" in page
        assert f"{c.junction - 273.15:.2f}" in page
    for layer in report.model.stack.layers:
        assert f"<td>{layer.name}</td>" in page
    over = any(c.margin is not None and c.margin < 0 for c in report.chiplets)
    assert ('<tr class="bad">' in page) == over  # dies over their limit are flagged


def test_data_files(written):
    index, report = written
    data = json.loads((index.parent / "run.json").read_text())["thermal"]
    assert data["max_temperature_C"] == pytest.approx(report.max_temperature - 273.15)
    assert {c["name"] for c in data["chiplets"]} == {c.name for c in report.chiplets}
    vtu = read_vtu(index.parent / "temperature.vtu")
    assert np.isclose(vtu["point_data"]["temperature"].max(), report.max_temperature)
    assert vtu["region_names"] == list(report.model.grid.region_names)


def test_pictures_are_not_blank(written):
    from PIL import Image

    index, _ = written
    for name in ("hotspots.png", "hotspots_exploded.png", "layer_maps.png"):
        with Image.open(index.parent / name) as im:
            img = np.asarray(im.convert("RGB"))
        assert n_colours(img) > 500, name



def test_a_failed_3d_rendering_costs_only_the_3d_pictures(written, tmp_path, monkeypatch):
    """No OpenGL: the page says why (a note, and a warning from write_report) and has the rest, the layer
    maps included."""
    from codesign.viz import render

    def no_gl(*a, **k):
        raise RuntimeError("no OpenGL here")

    monkeypatch.setattr(render, "plot_hotspots", no_gl)
    _, report = written
    run = LayoutRun(stack=report.model.stack, thermal=report)
    with pytest.warns(RuntimeWarning, match="3D pictures not rendered: RuntimeError: no OpenGL here"):
        index = write_report(run, tmp_path)
    page = index.read_text(encoding="utf-8")
    assert '<p class="note">3D pictures not rendered: RuntimeError: no OpenGL here</p>' in page
    assert 'src="layer_maps.png"' in page and "hotspots.png" not in page
    assert (tmp_path / "layer_maps.png").is_file() and not (tmp_path / "hotspots.png").exists()

def test_html_table():
    assert "no rows" in html_table([])
    t = html_table([{"a": 1, "b": 2.5}, {"c": None}], row_class=["bad", ""])
    assert '<tr class="bad">' in t and t.count("<tr>") == 2
    assert t.count("<th>") == 3 and "<td>-</td>" in t and '<td class="num">2.50</td>' in t
    t = html_table([{"note": "<b>raw</b>"}])
    assert "&lt;b&gt;raw&lt;/b&gt;" in t and "<b>raw</b>" not in t  # values are escaped


def test_write_report_takes_the_run_of_run_layout(tmp_path):
    """`write_report(run_layout(stack), dir)` (it raised AttributeError): the page has the links and
    PPAC tables of the run, and run.json is the run's own dictionary. The layout file and the power-map
    CSV it names are copied under layout/ (the report can be re-run from its own folder)."""
    import shutil

    import codesign as cd
    from codesign.layout_io import shipped_layout_path

    src = tmp_path / "in"
    src.mkdir()
    text = shipped_layout_path("demo").read_text()
    text = text.replace('tj_max = "95 degC"', 'tj_max = "95 degC"\n  power_map = "maps/hbm.csv"', 1)
    (src / "maps").mkdir()
    (src / "maps" / "hbm.csv").write_text("1,1\n1,1\n")
    (src / "mine.toml").write_text(text)
    stack = cd.load_layout(src / "mine.toml")
    run = cd.run_layout(stack, mesh={"max_lateral_size": 4e-3, "min_lateral_size": 4e-3, "grading": 1.0},
                        accuracy=False)
    out = tmp_path / "rep"
    index = write_report(run, out, pictures_3d=False)
    page = index.read_text(encoding="utf-8")
    for heading in ("Chiplet temperatures", "Links", "PPAC", "Boundary conditions", "Materials"):
        assert f"<h2>{heading}" in page
    assert "<td>logic-hbm0</td>" in page and "cost per good package" in page
    assert (out / "layout" / "mine.toml").read_text() == text
    assert (out / "layout" / "maps" / "hbm.csv").read_text() == "1,1\n1,1\n"
    assert 'href="layout/maps/hbm.csv"' in page and 'href="layout/mine.toml"' in page
    data = json.loads((out / "run.json").read_text())
    assert [link["name"] for link in data["links"]["links"]] == ["logic-hbm0", "logic-hbm1"]
    assert data["thermal"]["power_in_W"] == pytest.approx(120.0) and "ppac" in data  # 116 W + the 4 W map
    shutil.rmtree(src)  # the copy stands alone: loading it needs nothing from the original folder
    assert cd.load_layout(out / "layout" / "mine.toml").total_power == pytest.approx(120.0)


class _Pending(Future):
    """A warpage still running: notes which files were written when the report first asked for it."""

    def __init__(self, folder, outcome):
        super().__init__()
        self.folder, self.seen = folder, None
        if isinstance(outcome, BaseException):
            self.set_exception(outcome)
        else:
            self.set_result(outcome)

    def result(self, timeout=None):
        if self.seen is None:
            self.seen = sorted(p.name for p in self.folder.iterdir())
        return super().result(timeout)


def test_pending_warpage_is_awaited_after_the_temperature_pictures(coarse_report, tmp_path):
    """`codesign report` solves the warpage on a second thread: `write_report` draws the temperature
    pictures first, then takes the warpage (here None: not computed) before anything reads it."""
    run = LayoutRun(stack=coarse_report.model.stack, thermal=coarse_report)
    pending = _Pending(tmp_path, None)
    index = write_report(run, tmp_path, pictures_3d=False, warpage=pending)
    assert pending.seen == ["layer_maps.png"]  # the pictures were drawn before the wait; run.json was not yet
    assert json.loads((tmp_path / "run.json").read_text()).get("warpage") is None
    assert "<h2>Warpage" not in index.read_text(encoding="utf-8")
    failed = _Pending(tmp_path / "b", RuntimeError("the warpage thread failed"))
    (tmp_path / "b").mkdir()
    with pytest.raises(RuntimeError, match="the warpage thread failed"):  # not lost, not swallowed
        write_report(run, tmp_path / "b", pictures_3d=False, warpage=failed)


def test_report_sections_can_be_added():
    """Other analyses add a section to the page through `add_section` (e.g. warpage)."""
    from codesign.viz import report as rep

    before = [s.title for s in rep.SECTIONS]
    try:
        rep.add_section("Extra", lambda ctx: "<p>extra</p>", after="Energy balance")
        titles = [s.title for s in rep.SECTIONS]
        assert titles.index("Extra") == titles.index("Energy balance") + 1
        with pytest.raises(ValueError, match="no such section"):
            rep.add_section("Other", lambda ctx: None, after="Nope")
    finally:
        rep.SECTIONS[:] = [s for s in rep.SECTIONS if s.title in before]
    assert [s.title for s in rep.SECTIONS] == before


def test_report_commands_warpage_thread_warns_and_reports_the_rest(coarse_report, monkeypatch):
    """`codesign report`'s warpage runs on its own thread: a warpage that cannot be computed (no mechanical
    data, a solve that did not converge) is a warning and None, so the rest is still reported; its
    programs are counted apart from the main thread's stages."""
    import codesign.warpage as warpage
    from codesign.cli import report as report_command
    from solvers import _cache

    def fail(*a, **k):
        raise cd.ModelError("no mechanical data for 'mystery'")

    monkeypatch.setattr(warpage, "analyse_warpage", fail)
    run = LayoutRun(stack=coarse_report.model.stack, thermal=coarse_report)
    before = dict(_cache.STATS)
    with pytest.warns(RuntimeWarning, match="warpage not computed: no mechanical data for 'mystery'"):
        assert report_command._warpage(run, False) is None
    assert _cache.STATS == before


def test_report_says_when_it_waits_for_the_warpage_programs_to_compile():
    """`codesign report`'s wait for its warpage thread: on a terminal its line says so when that thread traced a
    program and is not done (a first run on the mesh size); not when it is done or compiled nothing."""
    import io
    import threading
    from concurrent.futures import Future

    from codesign import progress
    from codesign.cli.report import _Pending

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    said = "report ... compiling the warpage's programs (once per mesh size, then cached)"
    for traced, finished, expected in ((1, False, True), (0, False, False), (1, True, False)):
        future = Future()
        if finished:
            future.set_result("warpage")
        else:
            threading.Timer(0.05, future.set_result, ("warpage",)).start()
        term = Terminal()
        progress.configure(True, stream=term)
        try:
            with progress.stage("report"):
                assert _Pending(future, {"traced": traced}).result() == "warpage"
        finally:
            progress.configure(False)
        assert (said in term.getvalue()) is expected, (traced, finished, term.getvalue())
