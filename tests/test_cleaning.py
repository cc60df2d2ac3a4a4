"""Optional text cleaning (charlm.cleaning): the fixed order of the options and the stats it reports."""

import pytest

from charlm.cleaning import CleanOptions, clean_text
from charlm.errors import DataError


def test_no_options_change_nothing():
    text = "Ab  c\n\n\n\nd"
    out, stats = clean_text(text, CleanOptions())
    assert out == text and not CleanOptions().active
    assert (stats.chars_before, stats.chars_after, stats.vocab_before, stats.vocab_after) == (10, 10, 6, 6)


def test_lowercase_then_whitespace_then_rare_characters():
    text = "Hello \t World  \n\n\n\nhello world. Zz"
    out, stats = clean_text(text, CleanOptions(lowercase=True, collapse_whitespace=True, min_count=2))
    # lowercase first: "z" and "Z" count together (2), so they survive; "." (once) is dropped
    assert out == "hello world\n\nhello world zz"
    assert stats.dropped_chars == (".",) and stats.chars_after == len(out)
    assert "Dropped rare characters" in stats.markdown() and "→" in stats.markdown()


def test_cleaning_that_removes_everything_or_a_negative_count_is_refused():
    with pytest.raises(DataError, match="removed all"):
        clean_text("abc", CleanOptions(min_count=2))
    with pytest.raises(DataError, match="0 or more"):
        CleanOptions(min_count=-1)
