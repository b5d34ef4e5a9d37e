"""Injected faults: the grammar, the schedules, seed determinism, and what each kind does."""

from __future__ import annotations

import json

import httpx
import pytest

from sora2 import InvalidInputError
from sora2.emulator import (
    ConnectionDropped,
    Emulator,
    FaultPlan,
    FaultRule,
    SyncASGITransport,
    create_app,
    parse_faults,
)
from sora2.emulator._constants import DEFAULT_RETRY_AFTER, DEFAULT_SLOW_DELAY

from .helpers import AUTH, BASE_URL, PROMPT, assert_conforms, path_of, submit, submit_path


def _fired(plan: FaultPlan, target: str, calls: int) -> list[int]:
    """The 1-based call numbers on which the plan applied a fault to ``target``."""
    return [n for n in range(1, calls + 1) if plan.decide(target).fault is not None]


class TestGrammar:
    def test_a_rule_parses_into_its_parts(self) -> None:
        """TARGET:KIND=VALUE@TRIGGER=N is split into a FaultRule."""
        [rule] = parse_faults("status:429=3@every=5").rules
        assert FaultRule("status", "429", 3, "every", 5.0) == rule

    def test_defaults_are_filled_in(self) -> None:
        """A kind without a value gets its default; a rule without a trigger always fires."""
        rules = parse_faults("submit:429, result:slow, cancel:drop, status:500").rules
        assert [r.value for r in rules] == [DEFAULT_RETRY_AFTER, DEFAULT_SLOW_DELAY, "after", None]
        assert {None} == {r.trigger for r in rules}

    @pytest.mark.parametrize(
        "text",
        [
            "status:429@every=5,submit:drop@rate=0.1",
            "*:slow=0.25@first=2,video:502@after=3,result:truncate,cancel:drop=before",
            "submit:503=0",
        ],
    )
    def test_str_gives_the_spec_back(self, text: str) -> None:
        """Parsing str(plan) gives the same rules: the grammar round-trips."""
        plan = parse_faults(text)
        assert plan.rules == parse_faults(str(plan)).rules

    def test_an_empty_spec_means_no_faults(self) -> None:
        """An empty or blank spec is a plan with no rules."""
        assert not parse_faults("  ")
        assert parse_faults("").rules == ()

    @pytest.mark.parametrize(
        "text",
        [
            "status",
            "nosuchop:429",
            "status:418",
            "status:429=soon",
            "status:500=1",
            "status:slow=-1",
            "status:drop=sometimes",
            "status:429@every=0",
            "status:429@rate=2",
            "status:429@often=3",
            "status:429@first=x",
        ],
    )
    def test_bad_rules_are_refused_with_the_reason(self, text: str) -> None:
        """A rule breaking the grammar raises InvalidInputError quoting the rule."""
        with pytest.raises(InvalidInputError, match="bad fault rule") as caught:
            parse_faults(text)
        assert caught.value.field == "faults"

    def test_targets_come_from_the_spec(self) -> None:
        """Every operationId of the spec is a valid target."""
        from sora2._spec import operations

        for operation_id in operations():
            assert parse_faults(f"{operation_id}:500").rules[0].target == operation_id


class TestSchedules:
    def test_every_n_fires_on_multiples_of_n(self) -> None:
        """every=5 fires on the 5th, 10th and 15th call."""
        assert _fired(parse_faults("status:429@every=5"), "status", 17) == [5, 10, 15]

    def test_first_n_fires_on_the_first_calls(self) -> None:
        """first=2 fires on calls 1 and 2 only."""
        assert _fired(parse_faults("status:500@first=2"), "status", 6) == [1, 2]

    def test_after_n_fires_once_n_calls_went_through(self) -> None:
        """after=3 lets three calls through, then fires on every call."""
        assert _fired(parse_faults("status:503@after=3"), "status", 6) == [4, 5, 6]

    def test_a_rule_counts_only_its_target(self) -> None:
        """Calls to other operations do not advance a rule's counter."""
        plan = parse_faults("status:429@every=2")
        for _ in range(3):
            assert plan.decide("result").fault is None
        assert _fired(plan, "status", 4) == [2, 4]

    def test_star_matches_the_operations_but_not_the_video(self) -> None:
        """'*' applies to every operationId and never to the video download."""
        plan = parse_faults("*:500")
        assert plan.decide("submit").fault is not None
        assert plan.decide("cancel").fault is not None
        assert plan.decide("video").fault is None

    def test_the_first_firing_rule_wins_and_slow_delays_add_up(self) -> None:
        """Slow delays stack; among other rules the first written that fires is applied."""
        plan = parse_faults("status:slow=0.5,status:503,status:slow=0.25,status:429")
        decision = plan.decide("status")
        assert decision.delay == 0.75
        assert decision.fault is not None
        assert decision.fault.kind == "503"

    def test_rates_are_deterministic_under_a_seed(self) -> None:
        """The same seed gives the same faults; another seed gives other ones."""
        text = "status:500@rate=0.5"
        first = _fired(parse_faults(text, seed=7), "status", 64)
        again = _fired(parse_faults(text, seed=7), "status", 64)
        other = _fired(parse_faults(text, seed=8), "status", 64)
        assert first == again
        assert first != other
        assert 10 < len(first) < 54

    def test_reset_restarts_the_schedules(self) -> None:
        """After reset() the counters and generators start over."""
        plan = parse_faults("status:429@every=2,result:500@rate=0.5", seed=3)
        before = (_fired(plan, "status", 5), _fired(plan, "result", 20))
        plan.reset()
        assert before == (_fired(plan, "status", 5), _fired(plan, "result", 20))

    def test_a_string_given_to_the_emulator_uses_its_seed(self) -> None:
        """Emulator.faults parses a string with the emulator's own seed."""
        app = create_app(seed=11, faults="status:500@rate=0.5")
        assert app.faults.seed == 11
        app.faults = "result:429"
        assert str(app.faults) == "result:429=1"
        app.faults = None
        assert not app.faults


class TestKinds:
    def _client(self, app: Emulator) -> httpx.Client:
        return httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL, headers=AUTH)

    def test_429_carries_retry_after_and_the_error_body(self) -> None:
        """An injected 429 has Retry-After and error_code 429001, and conforms to the spec."""
        app = create_app(faults="submit:429=7")
        with self._client(app) as http:
            response = http.post(submit_path(), json={"prompt": PROMPT})
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert response.json()["error_code"] == 429001
        assert_conforms("submit", response)
        assert app.job_count() == 0

    @pytest.mark.parametrize(("kind", "code"), [("500", 500001), ("503", 503001)])
    def test_500_and_503_are_the_spec_error(self, kind: str, code: int) -> None:
        """500 and 503 answer with the spec's JSON error and take no job."""
        app = create_app(faults=f"submit:{kind}")
        with self._client(app) as http:
            response = http.post(submit_path(), json={"prompt": PROMPT})
        assert code == response.json()["error_code"]
        assert_conforms("submit", response)
        assert app.job_count() == 0

    def test_502_is_an_html_page(self) -> None:
        """An injected 502 is the edge proxy's HTML page, as the spec documents."""
        app = create_app(faults="status:502")
        with self._client(app) as http:
            response = http.get(path_of("status", "any"))
        assert response.status_code == 502
        assert response.headers["content-type"].startswith("text/html")
        assert "<html>" in response.text
        assert_conforms("status", response)

    def test_truncate_cuts_the_json_but_keeps_http_whole(self) -> None:
        """A truncated answer is a 200 whose Content-Length matches a body that is not JSON."""
        app = create_app(faults="submit:truncate")
        with self._client(app) as http:
            response = http.post(submit_path(), json={"prompt": PROMPT})
        assert response.status_code == 200
        assert str(len(response.content)) == response.headers["content-length"]
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.content)
        assert app.job_count() == 1

    def test_a_drop_after_processing_raises_and_the_job_exists(self) -> None:
        """In process, a drop raises httpx.RemoteProtocolError; the submit still made a job."""
        app = create_app(faults="submit:drop")
        with self._client(app) as http, pytest.raises(httpx.RemoteProtocolError) as caught:
            http.post(submit_path(), json={"prompt": PROMPT})
        assert isinstance(caught.value, ConnectionDropped)
        assert app.job_count() == 1
        assert app.stats.submissions[PROMPT] == 1

    def test_a_drop_before_processing_takes_no_job(self) -> None:
        """drop=before closes the exchange before the request is handled."""
        app = create_app(faults="submit:drop=before")
        with self._client(app) as http, pytest.raises(httpx.RemoteProtocolError):
            http.post(submit_path(), json={"prompt": PROMPT})
        assert app.job_count() == 0

    @pytest.mark.anyio
    async def test_a_drop_through_httpx_asgi_transport_is_a_remote_protocol_error(self) -> None:
        """httpx.ASGITransport passes the drop on as httpx.RemoteProtocolError."""
        app = create_app(faults="status:drop")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL, headers=AUTH
        ) as http:
            with pytest.raises(httpx.RemoteProtocolError):
                await http.get(path_of("status", "x"))

    def test_slow_delays_then_answers_normally(self) -> None:
        """A slow response still carries the normal answer, and the delay is counted."""
        app = create_app(faults="status:slow=0.01")
        with self._client(app) as http:
            response = http.get(path_of("status", "unknown"))
        assert response.status_code == 404
        assert app.stats.faults["slow"] == 1

    def test_faults_can_be_changed_while_serving(self) -> None:
        """Assigning Emulator.faults takes effect on the next request."""
        app = create_app()
        with self._client(app) as http:
            request_id = submit(http)
            assert http.get(path_of("status", request_id)).status_code == 200
            app.faults = parse_faults("status:503")
            assert http.get(path_of("status", request_id)).status_code == 503
            app.faults = None
            assert http.get(path_of("status", request_id)).status_code == 200

    def test_a_schedule_applies_through_the_app(self) -> None:
        """status:429@every=3 rate-limits exactly the 3rd and 6th status calls."""
        app = create_app(faults="status:429@every=3")
        with self._client(app) as http:
            request_id = submit(http)
            codes = [http.get(path_of("status", request_id)).status_code for _ in range(6)]
        assert codes == [200, 200, 429, 200, 200, 429]

    def test_the_same_seed_replays_the_same_run(self) -> None:
        """Two emulators with one seed give the same ids and the same faults for the same calls."""
        runs = []
        for _ in range(2):
            app = create_app(seed=5, faults="submit:503@rate=0.4")
            with self._client(app) as http:
                answers = [
                    http.post(submit_path(), json={"prompt": PROMPT}).json() for _ in range(12)
                ]
            runs.append([a.get("request_id", a.get("error_code")) for a in answers])
        assert runs[0] == runs[1]
        assert 503001 in runs[0]
        assert any(isinstance(answer, str) for answer in runs[0])
