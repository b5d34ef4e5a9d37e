"""Validation of the submit body, from the spec: 422 details, and the 400/413/415 guards."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sora2._inputs import input_fields
from sora2.emulator import Emulator
from sora2.emulator._constants import MAX_BODY_BYTES
from sora2.emulator._validation import body_defaults, validation_details

from .helpers import PROMPT, assert_conforms, choices, submit_path


def _submit(http: httpx.Client, body: Any) -> httpx.Response:
    response = http.post(
        submit_path(), content=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert_conforms("submit", response)
    return response


def _unknown_input(name: str) -> str:
    """``name``, suffixed until the spec's input does not define it: a field a later spec adds
    stays out of the tests of fields the emulator does not know."""
    known = set(input_fields())
    while name in known:
        name += "_"
    return name


def _detail(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == 422001
    detail: list[dict[str, Any]] = body["detail"]
    return detail


class TestAccepted:
    @pytest.mark.parametrize(
        ("size", "seconds"), list(itertools.product(choices("size"), choices("seconds")))
    )
    def test_every_size_and_duration_of_the_spec_is_accepted(
        self, client: httpx.Client, emulator: Emulator, size: str, seconds: int
    ) -> None:
        """Each (size, seconds) pair the spec lists is accepted and stored as sent."""
        response = _submit(client, {"prompt": PROMPT, "size": size, "seconds": seconds})
        assert response.status_code == 200
        view = emulator.job(response.json()["request_id"])
        assert view is not None
        assert (size, seconds) == (view.body["size"], view.body["seconds"])

    def test_defaults_come_from_the_spec(self, client: httpx.Client, emulator: Emulator) -> None:
        """A body with only a prompt is filled with the spec's defaults."""
        response = _submit(client, {"prompt": PROMPT})
        view = emulator.job(response.json()["request_id"])
        assert view is not None
        assert {"prompt": PROMPT, **body_defaults()} == view.body
        assert {"size", "seconds"} <= set(body_defaults())

    def test_unknown_fields_are_carried_not_rejected(self, client: httpx.Client) -> None:
        """The Input schema is open, so an extra field is accepted."""
        assert (
            _submit(client, {"prompt": PROMPT, _unknown_input("style"): "noir"}).status_code == 200
        )

    def test_new_inputs_are_recorded_with_the_job(
        self, client: httpx.Client, emulator: Emulator
    ) -> None:
        """An input the emulator's spec does not know yet is stored with the job and counted
        among the inputs received; the defaults it filled in are not counted."""
        seed = _unknown_input("seed")
        response = _submit(client, {"prompt": PROMPT, seed: 42})
        view = emulator.job(response.json()["request_id"])
        assert view is not None
        assert 42 == view.body[seed]
        assert {"prompt": 1, seed: 1} == dict(emulator.stats.inputs)


class TestRejected:
    def test_a_missing_prompt_is_named(self, client: httpx.Client) -> None:
        """No prompt: one detail at body.prompt of type required."""
        detail = _detail(_submit(client, {}))
        assert [item["loc"] for item in detail] == [["body", "prompt"]]
        assert detail[0]["type"] == "required"

    def test_a_size_outside_the_enum_lists_the_allowed_sizes(self, client: httpx.Client) -> None:
        """A size the spec does not list gets an enum detail with the allowed sizes."""
        detail = _detail(_submit(client, {"prompt": PROMPT, "size": "640x480"}))
        assert [
            {
                "loc": ["body", "size"],
                "msg": f"'640x480' is not one of {choices('size')!r}",
                "type": "enum",
                "allowed": choices("size"),
            }
        ] == detail

    def test_a_duration_outside_the_enum_lists_the_allowed_durations(
        self, client: httpx.Client
    ) -> None:
        """A duration the spec does not list gets an enum detail with the allowed values."""
        bad = max(choices("seconds")) + 1
        detail = _detail(_submit(client, {"prompt": PROMPT, "seconds": bad}))
        assert [("enum", choices("seconds"))] == [(d["type"], d["allowed"]) for d in detail]

    @pytest.mark.parametrize(
        ("field", "value"),
        [("prompt", 42), ("prompt", None), ("seconds", "8"), ("seconds", True), ("size", 720)],
    )
    def test_wrong_types_are_named(self, client: httpx.Client, field: str, value: Any) -> None:
        """A value of the wrong JSON type gets a type detail at its field."""
        body = {"prompt": PROMPT, field: value}
        detail = _detail(_submit(client, body))
        assert {("body", field)} == {tuple(item["loc"]) for item in detail}
        assert "type" in {item["type"] for item in detail}

    def test_an_empty_prompt_breaks_min_length(self, client: httpx.Client) -> None:
        """The spec's minLength on prompt is enforced."""
        detail = _detail(_submit(client, {"prompt": ""}))
        assert "minLength" in [item["type"] for item in detail]

    def test_every_problem_is_reported_at_once(self, client: httpx.Client) -> None:
        """Several bad fields give one detail list naming each of them."""
        detail = _detail(_submit(client, {"size": "1x1", "seconds": -1}))
        assert {("body", "prompt"), ("body", "size"), ("body", "seconds")} == {
            tuple(item["loc"]) for item in detail
        }

    @pytest.mark.parametrize("body", [[], "prompt", 3, None])
    def test_a_body_that_is_not_an_object_gets_422(self, client: httpx.Client, body: Any) -> None:
        """Valid JSON that is not an object breaks the schema at the root."""
        detail = _detail(_submit(client, body))
        assert [item["loc"] for item in detail] == [["body"]]

    def test_messages_quoting_a_huge_value_are_cut(self, client: httpx.Client) -> None:
        """A detail message quoting a very long value stays short."""
        detail = _detail(_submit(client, {"prompt": PROMPT, "size": "x" * 5000}))
        assert all(len(item["msg"]) <= 200 for item in detail)


class TestGuards:
    @pytest.mark.parametrize("raw", [b"{", b'{"prompt": NaN}', b"\xff\xfe{", b""])
    def test_malformed_json_gets_400(self, client: httpx.Client, raw: bytes) -> None:
        """A body that is not JSON gets 400 with the spec's error body."""
        response = client.post(
            submit_path(), content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["error_code"] // 1000 == 400
        assert_conforms("submit", response)

    @pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
    def test_a_wrong_content_type_gets_415(self, client: httpx.Client, content_type: str) -> None:
        """A body declared as anything but application/json gets 415001."""
        response = client.post(
            submit_path(),
            content=json.dumps({"prompt": PROMPT}),
            headers={"Content-Type": content_type},
        )
        assert response.status_code == 415
        assert response.json()["error_code"] == 415001
        assert_conforms("submit", response)

    def test_a_missing_content_type_gets_415(self, client: httpx.Client) -> None:
        """A body without any Content-Type gets 415."""
        response = client.post(submit_path(), content=json.dumps({"prompt": PROMPT}).encode())
        assert response.status_code == 415

    def test_json_with_a_charset_parameter_is_accepted(self, client: httpx.Client) -> None:
        """'application/json; charset=utf-8' is still JSON."""
        response = client.post(
            submit_path(),
            content=json.dumps({"prompt": PROMPT}),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        assert response.status_code == 200

    def test_an_oversized_body_gets_413(self, client: httpx.Client) -> None:
        """A body over the limit gets 413001 (declared with Content-Length)."""
        body = json.dumps({"prompt": "x" * MAX_BODY_BYTES})
        response = client.post(
            submit_path(), content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413
        assert response.json()["error_code"] == 413001
        assert_conforms("submit", response)

    def test_an_oversized_streamed_body_gets_413(self, client: httpx.Client) -> None:
        """A chunked body without Content-Length is cut off at the limit too."""

        def chunks() -> Iterator[bytes]:
            yield b'{"prompt": "'
            for _ in range(MAX_BODY_BYTES // 65536 + 1):
                yield b"x" * 65536
            yield b'"}'

        response = client.post(
            submit_path(), content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413


def test_the_validator_reads_its_enums_from_the_spec() -> None:
    """validation_details quotes exactly the spec's enum, so a regenerated spec is followed."""
    [item] = validation_details({"prompt": PROMPT, "size": "bad"})
    assert choices("size") == item["allowed"]
