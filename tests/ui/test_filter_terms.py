"""The filter language's sentences for unknown qualifiers and bad values (pure, no app)."""

from __future__ import annotations

import pytest

from ettui.ui.filtering import FilterError, Query

FIELDS = ("status", "call")
DURATIONS = ("expires", "next", "age")


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("expires<6x", "'6x' is not a duration"),
        ("foo:bar", "'foo' in 'foo:bar' is not a field"),
        ("nxt<30s", "Did you mean next?"),
        ("<5", "incomplete"),
    ],
)
def test_bad_terms_are_named(text: str, said: str) -> None:
    with pytest.raises(FilterError) as caught:
        Query.parse(text, FIELDS, DURATIONS)
    assert said in caught.value.message


def test_known_terms_and_any_name_without_a_list() -> None:
    query = Query.parse("status:error expires<6h words", FIELDS, DURATIONS)
    assert query.fields == (("status", ("error",)),) and query.words == ("words",)
    assert Query.parse("EmailAddress:example").fields == (("emailaddress", ("example",)),)
