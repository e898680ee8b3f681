"""Corrupting shipped layouts at random always ends in LayoutError, never another exception."""

import copy
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import codesign as cd
from codesign.layout_io import shipped_layout_path, shipped_layouts

DOCS = {name: tomllib.loads(shipped_layout_path(name).read_text()) for name in shipped_layouts()}


def _paths(node, prefix=()):
    """Every (container, key) position in a parsed TOML document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield prefix + (i,)
            yield from _paths(v, prefix + (i,))


values = st.one_of(
    st.integers(-10**12, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["1e308 mm", "-5 mm", "0 W", "nan W", "inf K", "12 parsecs", "3 W/m/K", "45 degC",
                     "1e-30 um", "100", "", "silicon", "under_above", "hbm", "..", "../../etc/passwd"]),
    st.lists(st.sampled_from(["1 mm", 3, "x", None.__class__.__name__]), max_size=4),
    st.dictionaries(st.sampled_from(["name", "kind", "pitch", "x"]), st.sampled_from(["1 um", 2, "a"]), max_size=3),
)


@st.composite
def corrupted(draw):
    name = draw(st.sampled_from(sorted(DOCS)))
    doc = copy.deepcopy(DOCS[name])
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(doc))
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = doc
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "replace", "swap"]))
        if action == "delete":
            del parent[key]
        elif action == "replace":
            parent[key] = draw(values)
        else:
            v = parent[key]
            parent[key] = [v] if not isinstance(v, list) else {"x": v}
    return doc


def _check(text):
    try:
        stack = cd.loads_layout(text, source="fuzz.toml")
    except cd.LayoutError:
        return
    # A corruption that still validates must also mesh.
    from codesign.mesh import estimate_cells

    if estimate_cells(stack) < 2_000_000:
        model = cd.build(stack)
        assert model.fields().total_power(model.grid) == pytest.approx(stack.total_power, rel=1e-9, abs=1e-12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_corrupted_layouts_raise_layout_error_only(doc):
    try:
        text = tomli_w.dumps(doc)
    except (TypeError, ValueError):  # not representable as TOML (e.g. NaN keys): nothing to load
        return
    _check(text)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(DOCS)), st.data())
def test_truncated_or_garbled_text_raises_layout_error_only(name, data):
    text = shipped_layout_path(name).read_text()
    cut = data.draw(st.integers(0, len(text)))
    junk = data.draw(st.text(max_size=20))
    _check(text[:cut] + junk)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_garbage_text_raises_layout_error(text):
    with pytest.raises(cd.LayoutError):
        cd.loads_layout(text, source="garbage.toml")
