"""result.json and the sidecars: strict JSON that reads back as written, laid out for people."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_cts.jsonable import compact_any, dumps, dumps_any, jsonable

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(values)
def test_reads_back_exactly(value: object) -> None:
    assert json.loads(dumps(value)) == value


def test_objects_are_indented_and_records_take_one_line_each() -> None:
    text = dumps({"input": {"files": ["a", "b"]}, "rows": [{"t_s": 1.5, "edge": "rise"}, {"t_s": 2.0}]})
    assert text.splitlines() == [
        "{",
        '  "input": {',
        '    "files": ["a", "b"]',
        "  },",
        '  "rows": [',
        '    {"t_s": 1.5, "edge": "rise"},',
        '    {"t_s": 2.0}',
        "  ]",
        "}",
    ]


def test_not_a_number_is_refused_and_jsonable_makes_it_null() -> None:
    with pytest.raises(ValueError):
        dumps({"speed": math.nan})
    plain = jsonable({"speed": np.float32("nan"), "n": np.int64(3), "xs": np.arange(2)})
    assert json.loads(dumps(plain)) == {"speed": None, "n": 3, "xs": [0, 1]}


@given(values)
def test_a_plain_value_is_written_as_its_converted_form(value: object) -> None:
    assert dumps_any(value) == dumps(jsonable(value))
    assert compact_any(value) == json.dumps(jsonable(value), separators=(",", ":"))


def test_values_json_refuses_are_converted_before_writing() -> None:
    value = {"speed": np.float32("nan"), "n": np.int64(3), "xs": (np.arange(2),), True: [math.inf], None: 1}
    expected = {"speed": None, "n": 3, "xs": [[0, 1]], "true": [None], "null": 1}
    assert json.loads(dumps_any(value)) == expected
    assert json.loads(compact_any(value)) == expected
