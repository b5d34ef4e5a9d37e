"""What a job costs: the price read from the model document (served by the emulator from the
spec's example), price(), max_cost= refusing before sending, the journal's estimate, and an
unreadable price reported but not fatal unless a budget was given."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from sora2 import CostLimitError, InvalidInputError
from sora2._inputs import input_fields, job_seconds
from sora2._journal import Journal
from sora2._options import PRICE_FIELD, UNIT_FIELD
from sora2._spec import models, resolve
from sora2.emulator import Emulator

from .helpers import Api, Factory, stats_submissions

pytestmark = pytest.mark.anyio

MODELS = list(models())


def _spec_price(model_id: str) -> tuple[float, str]:
    """The price the spec's example of the model's document gives."""
    document = models()[model_id].document
    assert document is not None
    content = resolve(document.raw["responses"]["200"])["content"]["application/json"]
    value = next(iter(content["examples"].values()))["value"]
    return value[PRICE_FIELD], value[UNIT_FIELD]


def _required_values(model_id: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, field in input_fields(model_id).items():
        if field.required and name != "prompt":
            values[name] = field.schema["examples"][0]
    return values


def _expected(model_id: str, body: dict[str, Any]) -> float:
    price, unit = _spec_price(model_id)
    seconds = job_seconds(body, model_id)
    assert unit == "second" and seconds is not None
    return round(price * seconds, 6)


class TestPrice:
    @pytest.mark.parametrize("model_id", MODELS)
    async def test_price_is_the_spec_example_multiplied_out(self, api: Api, model_id: str) -> None:
        """price() reads the model's price from the model document and multiplies it by the
        job's duration (the spec's default when none is given)."""
        estimate = await api.price(model=model_id)
        assert _expected(model_id, {}) == estimate.usd
        assert model_id == estimate.model
        assert str(estimate.seconds) in estimate.basis

    async def test_a_longer_job_costs_more(self, api: Api) -> None:
        """The duration input given is the one multiplied (its allowed values from the spec)."""
        duration = next(f for f in input_fields().values() if f.title == "Duration")
        longest = max(duration.choices or ())
        estimate = await api.price(**{duration.name: longest})
        assert _expected(MODELS[0], {duration.name: longest}) == estimate.usd

    async def test_a_bad_input_is_refused(self, api: Api) -> None:
        """An input the model does not allow is refused, naming it, as submit would."""
        duration = next(f for f in input_fields().values() if f.title == "Duration")
        with pytest.raises(InvalidInputError) as caught:
            await api.price(**{duration.name: 7})
        assert duration.name == caught.value.field

    async def test_the_price_is_asked_once_per_model(self, api: Api, emulator: Emulator) -> None:
        """Several estimates of one model cost one model-document request."""
        for _ in range(3):
            await api.price()
        await api.submit("a cat")
        assert 1 == emulator.stats.requests.get("model", 0)


class TestMaxCost:
    async def test_below_the_estimate_submits_nothing(self, api: Api, emulator: Emulator) -> None:
        """max_cost under the estimate raises CostLimitError naming max_cost, the estimate and
        its basis; the emulator saw no submission."""
        estimate = _expected(MODELS[0], {})
        with pytest.raises(CostLimitError) as caught:
            await api.submit("a cat", max_cost=estimate / 2)
        error = caught.value
        assert ("max_cost", estimate) == (error.field, error.estimate_usd)
        assert "max_cost" in str(error) and error.basis in str(error)
        assert 0 == stats_submissions(emulator)

    async def test_generate_refuses_too(self, api: Api, emulator: Emulator, tmp_path: Path) -> None:
        """generate(max_cost=...) refuses before submitting, like submit."""
        with pytest.raises(CostLimitError):
            await api.generate("a cat", out=tmp_path / "cat.mp4", max_cost=0)
        assert 0 == stats_submissions(emulator)

    @pytest.mark.parametrize("model_id", MODELS)
    async def test_within_the_budget_submits_and_journals_the_estimate(
        self, api: Api, emulator: Emulator, journal_path: Path, model_id: str
    ) -> None:
        """At the estimate, the job is submitted and its journal row records the estimate."""
        inputs = _required_values(model_id)
        estimate = _expected(model_id, inputs)
        submission = await api.submit("a cat", model=model_id, max_cost=estimate, **inputs)
        assert 1 == stats_submissions(emulator)
        record = Journal(journal_path).get(submission.request_id)
        assert record is not None and estimate == record.estimate_usd

    async def test_a_negative_budget_is_a_configuration_error(self, api: Api) -> None:
        """max_cost must be a number of dollars >= 0."""
        from sora2 import ConfigurationError

        with pytest.raises(ConfigurationError):
            await api.submit("a cat", max_cost=-1)


class TestUnreadablePrice:
    @pytest.fixture
    def broken(self, emulator: Emulator) -> Emulator:
        """The unofficial route failing: the model documents answer 500."""
        emulator.faults = "model:500"
        return emulator

    async def test_without_a_budget_the_job_goes_on_with_a_warning(
        self,
        make_api: Factory,
        broken: Emulator,
        journal_path: Path,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """No price and no max_cost: a warning says the cost cannot be estimated, the job is
        submitted, and its journal row has no estimate."""
        api = make_api(broken, max_retries=0)
        with caplog.at_level(logging.WARNING, logger="sora2"):
            submission = await api.submit("a cat")
        assert any("cannot estimate" in r.getMessage() for r in caplog.records)
        record = Journal(journal_path).get(submission.request_id)
        assert record is not None and record.estimate_usd is None

    async def test_with_a_budget_nothing_is_submitted(
        self, make_api: Factory, broken: Emulator
    ) -> None:
        """No price with max_cost: refused before sending, saying why it cannot estimate."""
        api = make_api(broken, max_retries=0)
        with pytest.raises(CostLimitError) as caught:
            await api.submit("a cat", max_cost=100)
        assert caught.value.estimate_usd is None
        assert "cannot estimate" in str(caught.value)
        assert 0 == stats_submissions(broken)

    async def test_a_404_route_is_reported_by_price(self, make_api: Factory) -> None:
        """A service without the route: price() says it cannot estimate, raising nothing."""

        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(404, json={"error_code": 404001, "error_message": "no"})

        estimate = await make_api(handler=handler).price()
        assert estimate.usd is None and "404" in estimate.basis


def test_an_old_journal_gains_the_estimate_column(tmp_path: Path) -> None:
    """A journal written before estimates is migrated on open; its rows read as None."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE jobs (request_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, "
            "prompt TEXT NOT NULL DEFAULT '', params TEXT NOT NULL DEFAULT '{}', state TEXT NOT "
            "NULL, queue_position INTEGER, submitted_at REAL NOT NULL, started_at REAL, "
            "finished_at REAL, processing_seconds REAL, video_url TEXT, target_path TEXT, "
            "output_path TEXT, error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL, "
            "model TEXT)"
        )
        conn.execute(
            "INSERT INTO jobs (request_id, base_url, state, submitted_at, created_at, "
            "updated_at) VALUES ('old', 'http://x', 'completed', 1, 1, 1)"
        )
    journal = Journal(path)
    old = journal.get("old")
    assert old is not None and old.estimate_usd is None
    journal.record_submission("new", base_url="http://x", prompt="p", params={}, estimate_usd=0.4)
    new = journal.get("new")
    assert new is not None and 0.4 == new.estimate_usd
    journal.close()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"[" * 100_000),
        httpx.Response(200, content=b"<html>oops</html>"),
        httpx.Response(
            200, json={"model_id": "x", "base_price_usd": 10**400, "price_unit": "second"}
        ),
        httpx.Response(200, json=["not", "a", "document"]),
        httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
        httpx.Response(202, json={}),
        httpx.Response(500, text="boom"),
    ],
)
async def test_a_garbled_price_is_no_estimate(emulator: Emulator, answer: httpx.Response) -> None:
    """Whatever the price route answers (garbage, a redirect, an error), the estimate says it
    cannot be made and the job is still submitted."""
    from sora2 import AsyncClient

    from .helpers import BASE_URL, TOKEN

    asgi = httpx.ASGITransport(app=emulator)

    async def forward(request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.startswith("/v1/models/"):
            return httpx.Response(
                answer.status_code, headers=answer.headers, content=answer.content
            )
        response = await asgi.handle_async_request(request)
        body = await response.aread()
        return httpx.Response(response.status_code, headers=response.headers, content=body)

    async with AsyncClient(
        TOKEN, base_url=BASE_URL, transport=httpx.MockTransport(forward), journal=False,
        max_retries=0,
    ) as client:  # fmt: skip
        estimate = await client.price()
        assert estimate.usd is None and "cannot estimate" in estimate.basis
        await client.submit("a cat")
    assert 1 == stats_submissions(emulator)
