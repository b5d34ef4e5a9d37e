"""Every model of the spec is served: its submit path takes jobs checked against its own input
schema, and its GET answers its own model document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sora2._inputs import input_fields
from sora2._spec import model, models, resolve
from sora2.emulator import Emulator
from sora2.emulator._models import model_document

from .helpers import PROMPT

MODELS = list(models())


def _valid_body(model_id: str) -> dict[str, Any]:
    """The prompt and each other required input, from the spec's own examples."""
    body: dict[str, Any] = {"prompt": PROMPT}
    for name, field in input_fields(model_id).items():
        if field.required and name not in body:
            body[name] = (field.schema.get("examples") or resolve(field.schema)["examples"])[0]
    return body


def _https_fields(model_id: str) -> list[str]:
    return [
        name
        for name, field in input_fields(model_id).items()
        if field.pattern is not None and "https" in field.pattern
    ]


@pytest.mark.parametrize("model_id", MODELS)
def test_each_model_takes_a_valid_job(
    client: httpx.Client, emulator: Emulator, model_id: str
) -> None:
    """A valid body on a model's submit path is accepted and recorded as sent."""
    response = client.post(model(model_id).submit.path, json=_valid_body(model_id))
    assert 200 == response.status_code, response.text
    job = emulator.job(response.json()["request_id"])
    assert PROMPT == job.body["prompt"]


@pytest.mark.parametrize("model_id", MODELS)
def test_each_model_answers_its_own_document(client: httpx.Client, model_id: str) -> None:
    """GET on a model's path is that model's document: its id and its own input properties."""
    response = client.get(model(model_id).submit.path)
    assert 200 == response.status_code
    assert model_document(model_id) == response.json()
    assert model_id == response.json()["model_id"]
    assert list(input_fields(model_id)) == list(response.json()["input_schema"]["properties"])


@pytest.mark.parametrize("model_id", [m for m in MODELS if len(_valid_body(m)) > 1])
def test_a_required_input_of_one_model_is_required_there(
    client: httpx.Client, model_id: str
) -> None:
    """A body without an input that model requires gets 422 naming it."""
    body = _valid_body(model_id)
    missing = next(name for name in body if name != "prompt")
    del body[missing]
    response = client.post(model(model_id).submit.path, json=body)
    assert 422 == response.status_code
    assert ["body", missing] in [d["loc"] for d in response.json()["detail"]]


@pytest.mark.parametrize("model_id", [m for m in MODELS if _https_fields(m)])
@pytest.mark.parametrize("value", ["http://example.com/cat.jpg", "/home/me/cat.jpg"])
def test_a_hosted_file_must_be_https(client: httpx.Client, model_id: str, value: str) -> None:
    """A hosted-file input that is not an https URL is refused with 422, as the service would."""
    for name in _https_fields(model_id):
        response = client.post(
            model(model_id).submit.path, json={**_valid_body(model_id), name: value}
        )
        assert 422 == response.status_code
        assert ["body", name] in [d["loc"] for d in response.json()["detail"]]


def test_a_fault_on_submit_hits_every_model(clock: Any) -> None:
    """A ``submit`` fault applies to each model's submit path: all are ``submit`` to it."""
    from sora2.emulator import SyncASGITransport, create_app

    from .helpers import AUTH, BASE_URL, TOKEN

    app = create_app(token=TOKEN, clock=clock, faults="submit:503")
    with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL, headers=AUTH) as http:
        for model_id in MODELS:
            response = http.post(model(model_id).submit.path, json=_valid_body(model_id))
            assert 503 == response.status_code
