"""Results files are strict JSON: a non-finite float (NaN = "not applicable") is written as null."""

import json

import numpy as np

from codesign._output import json_text


def _strict(text):
    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_floats_become_null_everywhere():
    data = {"dies_per_wafer": float("nan"), "rows": [1.0, float("inf"), (np.float64("nan"), 2)],
            "nested": {"x": -float("inf"), "ok": 3.5}}
    back = _strict(json_text(data))
    assert back == {"dies_per_wafer": None, "rows": [1.0, None, [None, 2]], "nested": {"x": None, "ok": 3.5}}


def test_default_converts_unknown_objects_and_its_result_is_made_finite():
    text = json_text({"a": np.array([1.0, np.nan])}, default=lambda o: o.tolist())
    assert _strict(text) == {"a": [1.0, None]}
