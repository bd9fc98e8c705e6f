"""The fast check of stored numbers (``plainly_finite``): True only when a full check would
pass too, so a hit's hot path never accepts what the full check rejects."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fullon_cache import validation

REQUIRED, OPTIONAL = ("price", "time"), ("bid", "ask")


def model(**values: object) -> SimpleNamespace:
    return SimpleNamespace(**{"price": 1.5, "time": 2.5, "bid": None, "ask": 3.5, **values})


@pytest.mark.parametrize(
    ("values", "plain"),
    [
        ({}, True),
        ({"ask": None}, True),
        ({"price": 1}, False),  # an int is valid, but only the full check says so
        ({"bid": 2}, False),
        ({"price": True}, False),
        ({"time": "2.5"}, False),
        ({"price": math.nan}, False),
        ({"bid": math.inf}, False),
        ({"ask": -math.inf}, False),
        ({"price": 1e308, "time": 1e308}, False),  # the sum overflows: the full check decides
    ],
)
def test_plainly_finite_is_true_only_for_finite_floats(
    values: dict[str, object], plain: bool
) -> None:
    assert validation.plainly_finite(model(**values), REQUIRED, OPTIONAL) is plain


@given(
    st.lists(
        st.one_of(st.none(), st.floats(), st.integers(), st.booleans(), st.text(max_size=3)),
        min_size=4,
        max_size=4,
    )
)
def test_plainly_finite_never_accepts_what_the_full_check_rejects(values: list[object]) -> None:
    candidate = model(**dict(zip(REQUIRED + OPTIONAL, values, strict=True)))
    if not validation.plainly_finite(candidate, REQUIRED, OPTIONAL):
        return
    for name in REQUIRED:
        validation.number(getattr(candidate, name), name)
    for name in OPTIONAL:
        if getattr(candidate, name) is not None:
            validation.number(getattr(candidate, name), name)
