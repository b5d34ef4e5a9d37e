"""sora2._options, the cost half: a model document's price multiplied out, or why it cannot be."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from sora2._options import (
    PRICE_FIELD,
    PRICE_UNITS,
    UNIT_FIELD,
    Unread,
    estimate_from,
    format_usd,
    read_document,
    sum_known,
    unpriced,
)

MODEL = "some/model"


def _document(price: Any, unit: Any) -> dict[str, Any]:
    return {"model_id": MODEL, PRICE_FIELD: price, UNIT_FIELD: unit}


def test_per_second_is_multiplied_by_the_duration() -> None:
    """A per-second price times the seconds, rounded so 0.1 x 3 is 0.3; the basis says so."""
    estimate = estimate_from(MODEL, _document(0.1, "second"), 3)
    assert (0.3, 3) == (estimate.usd, estimate.seconds)
    assert "x 3 s" in estimate.basis and PRICE_UNITS["second"] in estimate.basis


def test_per_request_ignores_the_duration() -> None:
    """A per-job price is the job's cost, whatever its length."""
    assert 0.25 == estimate_from(MODEL, _document(0.25, "request"), 12).usd
    assert 0.25 == estimate_from(MODEL, _document(0.25, "request"), None).usd


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"model_id": MODEL}, PRICE_FIELD),
        ({"model_id": MODEL, PRICE_FIELD: 0.1}, UNIT_FIELD),
        (_document("cheap", "second"), "not a price"),
        (_document(-1, "second"), "not a price"),
        (_document(True, "second"), "not a price"),
        (_document(0.1, "megapixel"), "'megapixel'"),
        ([], "not a JSON object"),
    ],
)
def test_what_cannot_be_estimated_says_why(document: Any, words: str) -> None:
    """A missing or bad field, or an unknown unit: no estimate, and the basis names the cause."""
    estimate = estimate_from(MODEL, document, 4)
    assert estimate.usd is None and not estimate.known
    assert "cannot estimate" in estimate.basis and words in estimate.basis


def test_a_per_second_price_needs_a_duration() -> None:
    """Without a duration, a per-second price gives no estimate."""
    assert estimate_from(MODEL, _document(0.1, "second"), None).usd is None


def test_totals_count_the_unknown_apart() -> None:
    """sum_known adds the known estimates and counts the others."""
    known = estimate_from(MODEL, _document(0.1, "second"), 4)
    assert (0.8, 1) == sum_known([known, known, unpriced(MODEL, "no route")])


@pytest.mark.parametrize(
    ("amount", "text"), [(0.4, "$0.40"), (1234.5, "$1,234.50"), (0.004, "$0.004")]
)
def test_format_usd(amount: float, text: str) -> None:
    """Dollars with cents; amounts under a cent keep their digits."""
    assert text == format_usd(amount)


_DOCUMENT_URL = "https://api.example/v1/models/some/model"


@pytest.mark.parametrize(
    "body", [b"<html>busy</html>", b"\xff\xfe{", b"[" * 100_000], ids=["html", "bytes", "deep"]
)
def test_a_document_that_is_not_json_is_unread(body: bytes) -> None:
    """A 200 whose body is not JSON (a page, broken bytes, nesting too deep to decode) leaves
    the price unread, saying why, instead of failing the job."""
    answer = httpx.Response(200, content=body, request=httpx.Request("GET", _DOCUMENT_URL))
    unread = read_document(answer)
    assert isinstance(unread, Unread)
    assert "/v1/models/some/model answered a body that is not JSON" in unread.reason


def test_a_json_document_is_read_whatever_its_encoding() -> None:
    """A JSON document is read as json.loads reads it, UTF-16 with its byte-order mark too."""
    document = _document(0.1, "second")
    for content in (json.dumps(document).encode(), json.dumps(document).encode("utf-16")):
        answer = httpx.Response(200, content=content, request=httpx.Request("GET", _DOCUMENT_URL))
        assert document == read_document(answer)
