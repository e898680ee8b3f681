"""The report folder: every file the page links to exists, and the page fetches nothing from outside."""

import json
from html.parser import HTMLParser

import numpy as np
import pytest


from _imaging import n_colours  # noqa: E402
from codesign.mesh import read_vtu  # noqa: E402
from codesign.report import html_table, write_report  # noqa: E402


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
    out = tmp_path_factory.mktemp("report")
    extra = {"Links": [{"link": "logic-hbm0", "phy": "HBM3", "bandwidth [GB/s]": 819.0},
                       {"link": "logic-hbm1", "phy": "HBM3", "bandwidth [GB/s]": 819.0, "note": "<b>raw</b>"}]}
    return write_report(coarse_report, out, extra_tables=extra), coarse_report


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
    for name in ("hotspots.png", "layer_maps.png", "results.json", "temperature.vtu"):
        assert name in parser.links


def test_page_has_the_tables(written):
    index, report = written
    page = index.read_text(encoding="utf-8")
    for heading in ("Chiplet temperatures", "Energy balance", "Solver", "Layers", "Links"):
        assert f"<h2>{heading}" in page
    for c in report.chiplets:
        assert f"<td>{c.name}</td>" in page
        assert f"{c.junction - 273.15:.2f}" in page
    for layer in report.meshed.stack.layers:
        assert f"<td>{layer.name}</td>" in page
    assert "&lt;b&gt;raw&lt;/b&gt;" in page and "<b>raw</b>" not in page  # values are escaped
    over = any(c.margin is not None and c.margin < 0 for c in report.chiplets)
    assert ('<tr class="bad">' in page) == over  # dies over their limit are flagged


def test_data_files(written):
    index, report = written
    data = json.loads((index.parent / "results.json").read_text())
    assert data["max_temperature_C"] == pytest.approx(report.max_temperature - 273.15)
    assert {c["name"] for c in data["chiplets"]} == {c.name for c in report.chiplets}
    assert data["extra_tables"]["Links"][0]["phy"] == "HBM3"
    vtu = read_vtu(index.parent / "temperature.vtu")
    assert np.isclose(vtu["point_data"]["temperature"].max(), report.max_temperature)
    assert vtu["region_names"] == list(report.meshed.grid.region_names)


def test_pictures_are_not_blank(written):
    from PIL import Image

    index, _ = written
    for name in ("hotspots.png", "hotspots_exploded.png", "layer_maps.png"):
        with Image.open(index.parent / name) as im:
            img = np.asarray(im.convert("RGB"))
        assert n_colours(img) > 500, name


def test_html_table():
    assert "no rows" in html_table([])
    t = html_table([{"a": 1, "b": 2.5}, {"c": None}], row_class=["bad", ""])
    assert '<tr class="bad">' in t and t.count("<tr>") == 2
    assert t.count("<th>") == 3 and "<td>-</td>" in t and '<td class="num">2.50</td>' in t
