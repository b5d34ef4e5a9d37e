"""``codegen sync --live``: the unofficial model route, against the emulator, never the internet.

The emulator serves ``GET /v1/models/{model_id}`` from the spec, so the checkout's spec is in
step with it; a spec copy that lost a property is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from _codegen_support import SPEC
from _sync_support import input_of, spec_copy, spec_of

from codegen._paths import Layout
from codegen._sync import run_sync
from codegen._upstream import TOKEN_VARIABLES
from sora2.emulator import SyncASGITransport, create_app, serve
from sora2.emulator._models import model_document, model_id

TOKEN = "sync-live-secret-token"


def _drop_optional_property(text: str) -> str:
    """The spec with its last input property removed, as if it were older than the service."""
    document = yaml.safe_load(text)
    schema = input_of(document)
    name = list(schema["properties"])[-1]
    assert name not in schema.get("required", [])
    lines = text.splitlines(keepends=True)
    start = lines.index(f"        {name}:\n")
    end = start + 1
    while lines[end].startswith("          "):
        end += 1
    return "".join(lines[:start] + lines[end:])


class TestLive:
    def test_the_checkout_is_in_step_with_the_emulator_over_http(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Against a real uvicorn on 127.0.0.1, --check exits 0 and the token is never printed."""
        root = spec_copy(tmp_path, seed=False)
        with serve(create_app(token=TOKEN)) as url:
            code = run_sync(
                Layout(root),
                None,
                live=model_id(),
                base_url=url,
                mode="check",
                environ={"RUNCOMFY_API_TOKEN": TOKEN},
            )
        captured = capsys.readouterr()
        assert 0 == code, captured.out + captured.err
        assert f"GET {url}/v1/models/{model_id()}" in captured.out
        assert TOKEN not in captured.out + captured.err

    def test_a_spec_behind_the_service_is_brought_in_step(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A spec copy missing a property: --check exits 1, --write restores the property."""
        root = spec_copy(tmp_path, _drop_optional_property, seed=False)
        original = input_of(yaml.safe_load(SPEC.read_text(encoding="utf-8")))
        missing = list(original["properties"])[-1]
        env = {"RUNCOMFY_TOKEN": TOKEN}
        with serve(create_app(token=TOKEN)) as url:
            for mode, expected in (("check", 1), ("write", 0)):
                code = run_sync(
                    Layout(root), None, live=model_id(), base_url=url, mode=mode, environ=env
                )
                assert expected == code
        # What the service publishes of it comes back; a keyword only the spec has (such as
        # an object's additionalProperties) cannot, since the model document leaves it out.
        published = model_document()["input_schema"]["properties"][missing]
        expected = {k: v for k, v in original["properties"][missing].items() if k in published}
        assert expected == input_of(spec_of(root))["properties"][missing]
        assert "new optional request property" in capsys.readouterr().out

    def test_the_default_service_is_the_spec_server(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without --base-url the request goes to the spec's first server (here answered by the
        emulator in process, so nothing leaves the machine)."""
        app = create_app(token=TOKEN)
        server = yaml.safe_load(SPEC.read_text(encoding="utf-8"))["servers"][0]["url"]
        code = run_sync(
            Layout(spec_copy(tmp_path, seed=False)),
            None,
            live=model_id(),
            mode="check",
            transport=SyncASGITransport(app),
            environ={"YOUR_API_TOKEN": TOKEN},
        )
        assert 0 == code
        assert f"GET {server.rstrip('/')}/v1/models/{model_id()}" in capsys.readouterr().out
        assert 1 == sum(app.stats.requests.values())

    def test_no_token_is_a_usage_error(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without a token in any of the variables, nothing is sent and the variables are named."""
        app = create_app(token=TOKEN)
        code = run_sync(
            Layout(spec_copy(tmp_path, seed=False)),
            None,
            live=model_id(),
            mode="check",
            transport=SyncASGITransport(app),
            environ={},
        )
        assert 2 == code
        err = capsys.readouterr().err
        assert all(name in err for name in TOKEN_VARIABLES)
        assert 0 == sum(app.stats.requests.values())

    def test_a_refused_token_is_reported_without_the_token(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A 401 exits 2 with the service's message; the token sent appears nowhere."""
        wrong = "wrong-" + TOKEN
        code = run_sync(
            Layout(spec_copy(tmp_path, seed=False)),
            None,
            live=model_id(),
            mode="check",
            transport=SyncASGITransport(create_app(token=TOKEN)),
            environ={"RUNCOMFY_API_TOKEN": wrong},
        )
        captured = capsys.readouterr()
        assert 2 == code
        assert "HTTP 401" in captured.err
        assert wrong not in captured.out + captured.err

    def test_an_unknown_model_is_reported(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A model the service does not know exits 2 with its 404."""
        code = run_sync(
            Layout(spec_copy(tmp_path, seed=False)),
            None,
            live=model_id() + "-nope",
            mode="check",
            transport=SyncASGITransport(create_app(token=TOKEN)),
            environ={"RUNCOMFY_API_TOKEN": TOKEN},
        )
        assert 2 == code
        assert "HTTP 404" in capsys.readouterr().err
