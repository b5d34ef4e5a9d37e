"""The worked example of docs/schema-changes.md, end to end on a copy of the repository.

Add a duration (16 s) and a resolution (1792x1024) to the spec, run ``python -m codegen
generate``, and with no hand edit: the client's input validation accepts them, the CLI offers
them, the emulator renders a clip of that size and length, and the contract checker accepts a
submit of them. The copy's code runs in a subprocess whose ``sys.path`` starts with the copy
and its ``generated/``, so nothing of the real checkout is imported there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from _codegen_support import ROOT, copy_repo, run_codegen, unused

from sora2 import InvalidInputError
from sora2._inputs import input_schema, validate_input

# Encoding a 16 s clip at 1792x1024 dominates: a few seconds, more on a loaded machine.
pytestmark = pytest.mark.slow

# The worked example's values, unless the spec has gained them since: then the next unused ones.
NEW_SECONDS = unused(input_schema()["properties"]["seconds"]["enum"], 16)
NEW_SIZE = unused(input_schema()["properties"]["size"]["enum"], "1792x1024")
PARTS = ("spec", "codegen", "generated", "sora2", "pyproject.toml")

# Runs inside the copy. Each check reports a result, or why it could not run yet (a module that
# another part of the project has not written yet), so the test can skip with that reason.
SCRIPT = textwrap.dedent(
    """
    import importlib.util, io, json, sys
    copy, seconds, size = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    out = {}

    import sora2, sora2_api
    out["imported_from"] = [sora2.__file__, sora2_api.__file__]

    from sora2 import InvalidInputError
    from sora2._inputs import validate_input
    body = validate_input({"prompt": "a worked example", "size": size, "seconds": seconds})
    out["validated"] = body
    try:
        validate_input({"prompt": "x", "seconds": seconds + 1})
        out["unknown_refused"] = False
    except InvalidInputError:
        out["unknown_refused"] = True

    if importlib.util.find_spec("sora2._cli._jobs") is None:
        out["cli"] = {"skip": "sora2/_cli/_jobs.py (the generate command) does not exist yet"}
    else:
        from click.testing import CliRunner
        from sora2._cli import cli
        result = CliRunner().invoke(cli, ["generate", "--help"], terminal_width=200)
        out["cli"] = {"exit_code": result.exit_code, "help": result.output}

    from sora2._spec import operation
    submit = operation("submit")
    token = "worked-example-token"
    auth = {"Authorization": "Bearer " + token}

    try:
        from sora2.emulator import SyncASGITransport, create_app
    except ImportError as exc:
        out["emulator"] = {"skip": "sora2.emulator is not importable yet: %s" % exc}
    else:
        import av, httpx
        now = [0.0]
        app = create_app(token=token, clock=lambda: now[0])
        base = "http://emulator.test"
        with httpx.Client(transport=SyncASGITransport(app), base_url=base, headers=auth) as client:
            accepted = client.post(submit.url_path(), json=body)
            emulator = {"submit_status": accepted.status_code}
            if accepted.status_code == 200:
                now[0] += 600.0  # past queue and render time, inside the TTL; no sleep
                result = client.get(accepted.json()["result_url"]).json()
                emulator["state"] = result.get("status")
                video = client.get(result["output"]["video"])
                with av.open(io.BytesIO(video.content)) as container:
                    stream = container.streams.video[0]
                    emulator["width"] = stream.codec_context.width
                    emulator["height"] = stream.codec_context.height
                    emulator["duration"] = float(container.duration) / av.time_base
            else:
                emulator["body"] = accepted.text
        out["emulator"] = emulator

    try:
        from sora2.contract import check_request
    except ImportError as exc:
        out["contract"] = {"skip": "sora2.contract is not importable yet: %s" % exc}
    else:
        import httpx
        url = sora2._spec.server_url() + submit.url_path()
        good = httpx.Request("POST", url, json=body, headers=auth)
        bad = httpx.Request("POST", url, json={**body, "seconds": seconds + 1}, headers=auth)
        out["contract"] = {
            "good": [str(v) for v in check_request(good)],
            "bad": [str(v) for v in check_request(bad)],
        }

    print(json.dumps(out))
    """
)


def _add_to_spec(spec: Path) -> None:
    """The maintainer's edit: one new value in each of the two enums, nothing else."""
    document: dict[str, Any] = yaml.safe_load(spec.read_text(encoding="utf-8"))
    fields = document["components"]["schemas"]["Input"]["properties"]
    fields["seconds"]["enum"].append(NEW_SECONDS)
    fields["size"]["enum"].append(NEW_SIZE)
    spec.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )


@pytest.fixture(scope="module")
def worked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Edit a copy's spec, regenerate it, and run the checks inside the copy."""
    copy = copy_repo(tmp_path_factory.mktemp("worked") / "repo", PARTS)
    _add_to_spec(copy / "spec" / "sora2.openapi.yaml")
    generated = run_codegen(copy, "generate")
    assert generated.returncode == 0, generated.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("SORA2_")}
    env["PYTHONPATH"] = os.pathsep.join([str(copy), str(copy / "generated")])
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(copy), str(NEW_SECONDS), NEW_SIZE],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    results["copy"] = str(copy)
    return results


def _skip_unless_ready(part: dict[str, Any]) -> None:
    if "skip" in part:
        pytest.skip(part["skip"])


def test_the_checkout_refuses_them_today() -> None:
    """Control: without the spec edit, the new values are refused."""
    with pytest.raises(InvalidInputError):
        validate_input({"prompt": "x", "seconds": NEW_SECONDS})
    with pytest.raises(InvalidInputError):
        validate_input({"prompt": "x", "size": NEW_SIZE})


def test_copy_code_is_what_runs(worked: dict[str, Any]) -> None:
    """The subprocess imports sora2 and sora2_api from the copy, not from the checkout."""
    assert all(path.startswith(worked["copy"]) for path in worked["imported_from"])
    assert not any(path.startswith(str(ROOT) + os.sep) for path in worked["imported_from"])


def test_regenerated_copy_has_no_drift(worked: dict[str, Any]) -> None:
    """The regenerated copy passes ``codegen check``: the edit went through the pipeline."""
    proc = run_codegen(Path(worked["copy"]), "check")
    assert proc.returncode == 0, proc.stderr


def test_client_accepts_them(worked: dict[str, Any]) -> None:
    """``validate_input`` accepts the new size and duration, and still refuses others."""
    assert worked["validated"] == {
        "prompt": "a worked example",
        "size": NEW_SIZE,
        "seconds": NEW_SECONDS,
    }
    assert worked["unknown_refused"] is True


def test_cli_offers_them(worked: dict[str, Any]) -> None:
    """``sora2 generate --help`` lists the new size and duration among the choices."""
    cli = worked["cli"]
    _skip_unless_ready(cli)
    assert cli["exit_code"] == 0, cli["help"]
    size_line = next(line for line in cli["help"].splitlines() if "--size" in line)
    seconds_line = next(line for line in cli["help"].splitlines() if "--seconds" in line)
    assert NEW_SIZE in size_line
    assert f"|{NEW_SECONDS}]" in seconds_line


def test_emulator_renders_them(worked: dict[str, Any]) -> None:
    """The emulator accepts the submit and renders a clip of that size and length."""
    emulator = worked["emulator"]
    _skip_unless_ready(emulator)
    assert emulator["submit_status"] == 200, emulator.get("body")
    assert emulator["state"] == "completed"
    width, height = (int(side) for side in NEW_SIZE.split("x"))
    assert (emulator["width"], emulator["height"]) == (width, height)
    assert emulator["duration"] == pytest.approx(NEW_SECONDS, abs=0.5)


def test_contract_checker_accepts_them(worked: dict[str, Any]) -> None:
    """The contract checker finds nothing wrong with a submit of them, and still flags others."""
    contract = worked["contract"]
    _skip_unless_ready(contract)
    assert contract["good"] == []
    assert contract["bad"] != []
