"""The one decision of whether a failed submit may have reached the service."""

from __future__ import annotations

import asyncio

import pytest

from ettui.errors import ApiConnectionError, AuthError, MalformedReplyError, ServiceError, ThrottledError, ValidationError
from ettui.session import may_have_reached_service


@pytest.mark.parametrize(
    ("error", "reached"),
    [
        (ThrottledError("busy"), False),
        (ValidationError("bad date"), False),
        (AuthError("refused"), False),
        (ServiceError("the service said no"), False),
        # The API layer marks each connection failure by the phase it happened in.
        (ApiConnectionError("Could not connect to host within 5 s; check it.", maybe_sent=False), False),
        (ApiConnectionError("host took the request but sent no reply within 5 s.", maybe_sent=True), True),
        (MalformedReplyError("unreadable"), True),
        (asyncio.CancelledError(), True),
        (RuntimeError("a bug"), True),
    ],
)
def test_the_classification(error: BaseException, reached: bool) -> None:
    assert may_have_reached_service(error) is reached


def test_the_api_layers_own_classification_wins() -> None:
    sent = ApiConnectionError("Could not connect to host")
    sent.maybe_sent = True
    unsent = MalformedReplyError("unreadable")
    unsent.maybe_sent = False
    assert may_have_reached_service(sent) is True
    assert may_have_reached_service(unsent) is False
