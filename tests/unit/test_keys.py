"""Identifiers, glob escaping and the KeySpace naming rules."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fullon_cache.errors import InvalidInputError, InvalidTypeError
from fullon_cache.keys import MAX_IDENTIFIER_LENGTH, KeySpace, escape_glob, identifier

FORBIDDEN = set("*?[]{}\\")

# -- identifier ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "binance",
        "Worker A",
        "BTC/USDT",
        "BTC/USDT:USDT",
        "ETH-PERP",
        "a.b_c",
        "ビットコイン",
        "Ölçü",
        "café",
        "x",
        "a" * MAX_IDENTIFIER_LENGTH,
    ],
)
def test_valid_text_is_returned_unchanged(value: str) -> None:
    assert identifier(value, "symbol") == value


@pytest.mark.parametrize(
    ("value", "text"),
    [(42, "42"), (0, "0"), (-7, "-7"), (10**20, "100000000000000000000")],
)
def test_an_int_is_used_as_its_decimal_string(value: int, text: str) -> None:
    assert identifier(value, "ex_id") == text


@pytest.mark.parametrize(
    "value",
    [None, True, False, 1.5, 2.0, float("nan"), [], ["a"], {}, {"a": 1}, ("a",), b"binance"],
    ids=repr,
)
def test_wrong_types_are_rejected(value: Any) -> None:
    with pytest.raises(InvalidTypeError, match="bot_id must be a str or an int") as caught:
        identifier(value, "bot_id")
    assert isinstance(caught.value, InvalidInputError)
    assert isinstance(caught.value, TypeError)
    assert type(value).__name__ in str(caught.value)


def test_empty_text_is_invalid_but_not_a_type_error() -> None:
    with pytest.raises(InvalidInputError, match="exchange must not be empty") as caught:
        identifier("", "exchange")
    assert not isinstance(caught.value, TypeError)


@pytest.mark.parametrize("value", [" a", "a ", " ", "\ta", "a\n", "\u3000a", "a\u2003"])
def test_leading_or_trailing_whitespace_is_rejected(value: str) -> None:
    with pytest.raises(InvalidInputError, match="whitespace"):
        identifier(value, "symbol")


def test_more_than_the_maximum_length_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match=f"longer than {MAX_IDENTIFIER_LENGTH}"):
        identifier("a" * (MAX_IDENTIFIER_LENGTH + 1), "symbol")
    with pytest.raises(InvalidInputError, match="longer than"):
        identifier(10**MAX_IDENTIFIER_LENGTH, "uid")  # 201 digits


@pytest.mark.parametrize("char", sorted(FORBIDDEN))
@pytest.mark.parametrize("where", ["{}b", "a{}", "a{}b"])
def test_glob_braces_and_backslash_are_rejected(char: str, where: str) -> None:
    with pytest.raises(InvalidInputError, match="must not contain") as caught:
        identifier(where.replace("{}", char), "symbol")
    assert repr(char) in str(caught.value)


@pytest.mark.parametrize(
    "char",
    ["\n", "\r", "\t", "\x00", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\u00a0", "\u200b"],
    ids=lambda char: f"U+{ord(char):04X}",
)
def test_control_and_invisible_characters_are_rejected(char: str) -> None:
    with pytest.raises(InvalidInputError, match="control characters"):
        identifier(f"a{char}b", "symbol")


def test_the_error_names_the_argument() -> None:
    with pytest.raises(InvalidInputError, match=r"^cat_ex_id "):
        identifier("", "cat_ex_id")


def _is_safe(text: str) -> bool:
    return (
        0 < len(text) <= MAX_IDENTIFIER_LENGTH
        and text == text.strip()
        and not FORBIDDEN.intersection(text)
        and text.isprintable()
    )


@given(st.text(max_size=250))
@example("Worker A")
@example("a" * 201)
@example("a\u2028b")
@example("{tag}")
def test_identifier_returns_only_safe_text(text: str) -> None:
    try:
        result = identifier(text, "symbol")
    except InvalidInputError:
        assert not _is_safe(text)
    else:
        assert result == text
        assert _is_safe(result)


@given(st.integers())
def test_identifier_of_any_int_is_its_decimal_string_or_too_long(value: int) -> None:
    text = str(value)
    if len(text) <= MAX_IDENTIFIER_LENGTH:
        assert identifier(value, "uid") == text
    else:
        with pytest.raises(InvalidInputError):
            identifier(value, "uid")


# -- escape_glob ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain:key", "plain:key"),
        ("a*b", "a\\*b"),
        ("a?b", "a\\?b"),
        ("[ab]", "\\[ab\\]"),
        ("a\\b", "a\\\\b"),
        ("*?[]\\", "\\*\\?\\[\\]\\\\"),
        ("{tag}", "{tag}"),  # braces have no glob meaning
        ("", ""),
    ],
)
def test_escape_glob(text: str, escaped: str) -> None:
    assert escape_glob(text) == escaped


# -- KeySpace ------------------------------------------------------------------------------


def test_pattern_defaults_to_everything_in_the_namespace() -> None:
    assert KeySpace("fullon").pattern() == "fullon:*"


def test_pattern_keeps_the_glob_meaning_of_its_argument() -> None:
    keys = KeySpace("fullon")
    assert keys.pattern("tickers:*") == "fullon:tickers:*"
    assert keys.pattern("order?:[ab]") == "fullon:order?:[ab]"


def test_pattern_escapes_nothing_in_a_valid_prefix() -> None:
    assert KeySpace("Tenant_A.prod-2").pattern("x:*") == "Tenant_A.prod-2:x:*"


def test_pattern_escapes_glob_characters_in_the_prefix() -> None:
    # A prefix is validated by CacheSettings; KeySpace still never lets it act as a glob.
    assert KeySpace("a*[b]").pattern("x") == "a\\*\\[b\\]:x"


@pytest.mark.parametrize("glob", ["", "a\nb", "\x00", "tickers:\t*"])
def test_pattern_rejects_empty_or_control_text(glob: str) -> None:
    with pytest.raises(InvalidInputError, match="pattern"):
        KeySpace("fullon").pattern(glob)


def test_strip_removes_the_namespace_from_bytes_and_text() -> None:
    strip = KeySpace("fullon").strip
    assert strip(b"fullon:errors:global") == "errors:global"
    assert strip("fullon:tickers:binance") == "tickers:binance"
    assert strip("fullon:") == ""


def test_strip_leaves_other_keys_alone() -> None:
    strip = KeySpace("full").strip
    assert strip("fullon:x") == "fullon:x"  # 'full' is not the namespace of 'fullon:'
    assert strip(b"other:full:x") == "other:full:x"
    assert strip("full") == "full"


def test_strip_of_bytes_that_are_not_utf8_does_not_raise() -> None:
    assert KeySpace("fullon").strip(b"fullon:\xff") == "\\xff"


def test_prefix_head_and_global_errors() -> None:
    keys = KeySpace("tenant_a")
    assert keys.prefix == "tenant_a"
    assert keys.global_errors() == "tenant_a:errors:global"
    assert KeySpace("fullon").global_errors() == "fullon:errors:global"


def test_repr() -> None:
    assert repr(KeySpace("fullon")) == "KeySpace('fullon')"


@pytest.mark.parametrize(("mine", "other"), [("a", "ab"), ("ab", "a"), ("a.b", "a-b")])
def test_no_key_of_one_namespace_matches_anothers_pattern(mine: str, other: str) -> None:
    # Valid prefixes hold no glob character, so fnmatch reads these patterns as Redis does.
    assert fnmatchcase(KeySpace(mine).global_errors(), KeySpace(mine).pattern())
    assert not fnmatchcase(KeySpace(other).global_errors(), KeySpace(mine).pattern())
