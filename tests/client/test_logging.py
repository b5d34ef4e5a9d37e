"""The token never shows: not in logs (any logger, DEBUG), reprs, or error messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from sora2 import AuthenticationError, Sora2Error, WaitTimeoutError, _logging
from sora2._logging import REDACTED, logger, redact, register_secret
from sora2.emulator import Emulator

from .helpers import TOKEN, Api, Factory, Script, json_response

pytestmark = pytest.mark.anyio


async def test_no_token_in_debug_logs(
    api: Api, emulator: Emulator, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A full lifecycle with retries, logged at DEBUG by every library, never logs the token."""
    emulator.faults = "status:429@every=3,result:502@first=1"
    with caplog.at_level(logging.DEBUG):
        await api.generate("x", out=tmp_path / "x.mp4")
        with pytest.raises(Sora2Error):
            await api.status("missing")
    assert any(r.name == "sora2" for r in caplog.records)
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


async def test_no_token_in_reprs(api: Api) -> None:
    """repr(client) shows the service, never the key; nor does its auth or generated client."""
    text = repr(api.client)
    assert "localhost" in text and TOKEN not in text
    assert TOKEN not in repr(api.client._http.auth)
    from sora2_api import AuthenticatedClient

    assert TOKEN not in repr(AuthenticatedClient(base_url=api.client.base_url, token=TOKEN))


async def test_token_echoed_by_the_service_is_redacted(make_api: Factory) -> None:
    """An error message that quotes the token comes out with the token redacted."""
    body = {"error_code": 401001, "message": f"token {TOKEN} is revoked"}
    api = make_api(handler=Script().on("status", json_response(401, body)))
    with pytest.raises(AuthenticationError) as caught:
        await api.status("r")
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert REDACTED in str(caught.value)
    assert TOKEN not in caught.value.message


async def test_errors_never_carry_the_header_in_text(make_api: Factory) -> None:
    """A transport failure's message and its request's repr leave the Authorization header out."""

    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["authorization"]
        raise httpx.ReadTimeout(f"timed out sending Authorization: {sent}", request=request)

    api = make_api(handler=handler, max_retries=0)
    with pytest.raises(Sora2Error) as caught:
        await api.status("r")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value.request)


async def test_wait_timeout_message(api: Api) -> None:
    """The deadline error names the job and how to resume it, and nothing secret."""
    submission = await api.submit("x")
    with pytest.raises(WaitTimeoutError) as caught:
        await api.wait(submission.request_id, timeout=0)
    assert submission.request_id in str(caught.value)
    assert "sora2 resume" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_filter_redacts_records(caplog: pytest.LogCaptureFixture) -> None:
    """A record on the sora2 logger is redacted, whether the secret is in msg or args."""
    register_secret("another-secret-value")
    with caplog.at_level(logging.DEBUG, logger="sora2"):
        logger.debug("key %s", "another-secret-value")
        logger.debug("header Authorization: Bearer abc.def-123")
    assert "another-secret-value" not in caplog.text
    assert "abc.def-123" not in caplog.text
    assert caplog.text.count(REDACTED) == 2


def test_redact() -> None:
    """redact() hides registered secrets and any bearer credential, and keeps the rest."""
    register_secret("s3cr3t")
    assert redact("a s3cr3t b") == f"a {REDACTED} b"
    assert redact("Authorization: bearer xyz") == f"Authorization: bearer {REDACTED}"
    assert redact("nothing here") == "nothing here"


@pytest.fixture
def own_secrets() -> Iterator[None]:
    """Only the secrets this test registers are known while it runs (others' tokens, such as
    "emulator", are set aside), and they are forgotten after it."""
    saved = dict(_logging._patterns)
    _logging._patterns.clear()
    yield
    _logging._patterns.clear()
    _logging._patterns.update(saved)


_PROSE = "fault injected by the emulator: status 503 (x-request-id abc_t-ab tab/ab-test)"
"""Ordinary text in which a 1- or 2-letter token occurs only inside other words."""


@pytest.mark.parametrize("token", ["t", "ab", "sk-" + "Z9" * 18 + "q"], ids=["1", "2", "40"])
def test_redaction_never_mangles_other_words(token: str, own_secrets: None) -> None:
    """A token of 1, 2 or 40 characters leaves words that merely contain it intact."""
    assert 40 == len("sk-" + "Z9" * 18 + "q")
    register_secret(token)
    assert _PROSE == redact(_PROSE)


@pytest.mark.parametrize("token", ["t", "ab", "sk-" + "Z9" * 18 + "q"], ids=["1", "2", "40"])
@pytest.mark.parametrize(
    "leak",
    [
        "Authorization: {t}",
        "x-api-key: {t}",
        "GET https://api.example/v1/jobs?token={t}&page=2",
        "GET https://api.example/v1/{t}/status",
        "redirected to /download?key={t}",
        "Authorization: Bearer%20{t}",
        "token {t} is revoked.",
        '{{"token": "{t}"}}',
        "the key was '{t}'",
    ],
)
def test_redaction_finds_every_real_leak(token: str, leak: str, own_secrets: None) -> None:
    """A token of 1, 2 or 40 characters is redacted in headers, URLs, query strings, JSON and
    as a whole word."""
    register_secret(token)
    expected = f"{_PROSE}; {leak.format(t=REDACTED)}"
    assert expected == redact(f"{_PROSE}; {leak.format(t=token)}")


def test_a_long_token_is_redacted_even_glued_to_other_text(own_secrets: None) -> None:
    """A token long enough that no word holds it by chance is redacted wherever it shows."""
    token = "sk-" + "Z9" * 18 + "q"
    register_secret(token)
    assert f"key-{REDACTED}_x" == redact(f"key-{token}_x")


_QUIET_SCRIPT = """
import sys

import httpx
import stamina

from sora2 import Client

calls = []


def handler(request):
    calls.append(request)
    if len(calls) == 1:
        return httpx.Response(503, json={"error_code": 503001, "message": "busy"})
    return httpx.Response(200, json={"request_id": "r", "status": "in_queue"})


with stamina.set_testing(True, attempts=3):
    with Client(api_key="k", transport=httpx.MockTransport(handler), journal=sys.argv[1]) as c:
        print(c.status("r").state)
"""


def test_nothing_on_stderr_without_logging_configured(tmp_path: Path) -> None:
    """A program that never configured logging sees no line from a retry or a broken journal."""
    import os
    import subprocess
    import sys

    broken_journal = tmp_path / "a-directory"
    broken_journal.mkdir()
    script = tmp_path / "quiet.py"
    script.write_text(_QUIET_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), str(broken_journal)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
    )
    assert 0 == done.returncode, done.stderr
    assert "in_queue\n" == done.stdout
    assert "" == done.stderr


async def test_retries_are_logged_under_sora2_only(
    make_api: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry is one INFO record of the ``sora2`` logger; stamina itself logs nothing."""
    script = Script().on(
        "status",
        json_response(503, {"error_code": 503001, "message": "busy"}),
        json_response(200, {"request_id": "r", "status": "in_queue"}),
    )
    api = make_api(handler=script)
    with caplog.at_level(logging.DEBUG):
        await api.status("r")
    retries = [r for r in caplog.records if "retry" in r.getMessage() and r.levelno == logging.INFO]
    assert ["sora2"] == [r.name for r in retries]
    assert [] == [r for r in caplog.records if r.name.startswith("stamina")]


async def test_other_retry_hooks_still_see_sora2_retries(make_api: Factory) -> None:
    """Only stamina's log hooks are skipped: an application's own hook (metrics) still sees
    each retry of sora2, by name."""
    from stamina.instrumentation import get_on_retry_hooks, set_on_retry_hooks

    before = get_on_retry_hooks()
    seen: list[str] = []
    set_on_retry_hooks([lambda details: seen.append(details.name)])
    try:
        script = Script().on(
            "status",
            json_response(503, {"error_code": 503001, "message": "busy"}),
            json_response(200, {"request_id": "r", "status": "in_queue"}),
        )
        await make_api(handler=script).status("r")
    finally:
        set_on_retry_hooks(before)
    assert ["sora2.status"] == seen
