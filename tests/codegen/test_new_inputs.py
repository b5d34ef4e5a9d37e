"""A new input property, end to end on a copy of the repository (issue 11, items 1, 2 and 6).

Add an optional integer with bounds and no default (``seed``), or a required string
(``style``), to the copy's spec, run ``python -m codegen generate``, and with no hand edit:
``Client.submit``/``generate`` take it as a keyword (and mypy knows its type), callers who do
not pass the optional one keep working, the CLI has an option for it, bad values are refused
before sending, and the emulator accepts, validates and records it. The copy's code runs in a
subprocess whose ``sys.path`` starts with the copy and its ``generated/``.
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
from _codegen_support import ROOT, copy_repo, run_codegen

from sora2._inputs import PROMPT_INPUT, input_fields, input_schema_pointer

pytestmark = pytest.mark.slow

PARTS = ("spec", "codegen", "generated", "sora2", "pyproject.toml")
SEED = {
    "title": "Seed",
    "description": "The same seed and prompt give the same video.",
    "type": "integer",
    "minimum": 0,
    "maximum": 2147483647,
}
STYLE = {"title": "Style", "description": "The look of the video.", "type": "string"}


def _fresh(name: str) -> str:
    """``name``, or ``name_new``..., whichever the spec does not have yet."""
    while name in input_fields():
        name += "_new"
    return name


MUTATIONS: dict[str, dict[str, Any]] = {
    "optional": {"name": _fresh("seed"), "schema": SEED, "required": False, "good": 42, "bad": -1},
    "required": {
        "name": _fresh("style"),
        "schema": STYLE,
        "required": True,
        "good": "noir",
        "bad": 7,
    },
}

# Runs inside the copy: each step records what happened, the test asserts on it.
SCRIPT = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from pathlib import Path
    name, work = sys.argv[1], Path(sys.argv[4])
    good, bad = json.loads(sys.argv[2]), json.loads(sys.argv[3])
    out = {}

    import sora2, sora2_api
    out["imported_from"] = [sora2.__file__, sora2_api.__file__]
    from sora2 import Client, InvalidInputError

    def attempt(call):
        try:
            return {"ok": call()}
        except InvalidInputError as exc:
            return {"field": exc.field, "message": str(exc)}

    journal = work / "journal.sqlite3"
    with Client(emulator=True, journal=journal) as client:
        out["without"] = attempt(lambda: client.submit("no new input").request_id)
        out["bad"] = attempt(lambda: client.submit("bad", **{name: bad}).request_id)
        paths = client.generate("with it", out=work / "with.mp4", **{name: good})
        out["generated"] = all(Path(p).is_file() for p in paths)
        out["params"] = [r.params for r in client.jobs()]

    from sora2.emulator import SyncASGITransport, create_app
    import httpx
    from sora2._spec import operation
    app = create_app(token="t")
    with httpx.Client(
        transport=SyncASGITransport(app), base_url="http://emulator.test",
        headers={"Authorization": "Bearer t"},
    ) as http:
        path = operation("submit").url_path()
        accepted = http.post(path, json={"prompt": "x", name: good})
        job = app.job(accepted.json()["request_id"]) if accepted.status_code == 200 else None
        refused = http.post(path, json={"prompt": "x", name: bad})
        out["emulator"] = {
            "status": accepted.status_code,
            "recorded": None if job is None else job.body.get(name),
            "inputs": dict(app.stats.inputs),
            "refused": refused.status_code,
            "detail": refused.json().get("detail"),
        }

    from click.testing import CliRunner
    from sora2._cli import main

    def cli(*args):
        stdout, stderr = io.StringIO(), io.StringIO()
        code = 0
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = main(list(args)) or 0
            except SystemExit as exc:
                code = exc.code
        return {"exit_code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}

    flag = "--" + name.replace("_", "-")
    common = ("--emulator", "--journal", str(work / "cli.sqlite3"))
    out["cli_help"] = cli("generate", "--help")
    out["cli_generate"] = cli(
        "generate", "cli prompt", flag, str(good), "--out", str(work / "cli.mp4"), "--json",
        *common,
    )
    out["cli_submit_input"] = cli(
        "submit", "x", "--input", name + "=" + json.dumps(good), "--json", *common
    )
    out["cli_bad"] = cli("submit", "x", "--input", name + "=" + json.dumps(bad), *common)
    out["cli_bad_option"] = cli("submit", "x", flag, str(bad), *common)
    print(json.dumps(out))
    """
)

# Type-checked inside the copy (and, as a control, inside the checkout).
USAGE = textwrap.dedent(
    """
    from sora2 import AsyncClient, Client


    def use(client: Client, name: str) -> None:
        client.submit("x", {name}={good!r})
        client.generate("x", out="clip.mp4", {name}={good!r})


    async def ause(client: AsyncClient) -> None:
        await client.submit("x", {name}={good!r})
    """
)


def _add_to_spec(spec: Path, name: str, schema: dict[str, Any], required: bool) -> None:
    """The maintainer's edit: one new property of the submit body's schema."""
    document: dict[str, Any] = yaml.safe_load(spec.read_text(encoding="utf-8"))
    node: Any = document
    for token in input_schema_pointer()[2:].split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    node["properties"][name] = schema
    if required:
        node.setdefault("required", []).append(name)
    spec.write_text(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100), encoding="utf-8"
    )


def _env(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA2_", "RUNCOMFY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(copy), str(copy / "generated")])
    return env


@pytest.fixture(scope="module", params=sorted(MUTATIONS))
def mutated(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A regenerated copy with the new property, and what its code did with it."""
    kind: str = request.param
    mutation = MUTATIONS[kind]
    assert mutation["name"] not in input_fields(), "the mutation must add a new property"
    base = tmp_path_factory.mktemp(f"new-{kind}")
    copy = copy_repo(base / "repo", PARTS)
    _add_to_spec(
        copy / "spec" / "sora2.openapi.yaml",
        mutation["name"],
        mutation["schema"],
        mutation["required"],
    )
    generated = run_codegen(copy, "generate")
    assert generated.returncode == 0, generated.stderr
    work = base / "work"
    work.mkdir()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            mutation["name"],
            json.dumps(mutation["good"]),
            json.dumps(mutation["bad"]),
            str(work),
        ],
        cwd=work,
        env=_env(copy),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    results: dict[str, Any] = json.loads(proc.stdout.splitlines()[-1])
    return kind, mutation, copy, results


def test_the_copys_code_is_what_runs(mutated: Any) -> None:
    """The subprocess imports sora2 and sora2_api from the copy, not from the checkout."""
    _, _, copy, results = mutated
    assert all(path.startswith(str(copy)) for path in results["imported_from"])
    assert not any(path.startswith(str(ROOT) + os.sep) for path in results["imported_from"])


def test_callers_who_do_not_pass_it(mutated: Any) -> None:
    """Without the new input: an optional one is simply not sent, a required one is refused
    before sending, naming the field."""
    _, mutation, _, results = mutated
    if mutation["required"]:
        assert mutation["name"] == results["without"]["field"]
        assert "required" in results["without"]["message"]
    else:
        assert "ok" in results["without"], results["without"]


def test_the_client_takes_it_as_a_keyword(mutated: Any) -> None:
    """``generate(..., name=value)`` sends it (the journal records exactly what was sent)."""
    _, mutation, _, results = mutated
    assert results["generated"] is True
    assert {mutation["name"]: mutation["good"]} == results["params"][-1]
    if not mutation["required"]:
        assert {} == results["params"][0]  # the call without it sent nothing but the prompt


def test_a_bad_value_is_refused_before_sending(mutated: Any) -> None:
    """A value breaking the spec raises InvalidInputError naming the field and what is allowed."""
    _, mutation, _, results = mutated
    assert mutation["name"] == results["bad"]["field"]
    if mutation["schema"].get("minimum") is not None:
        assert f">= {mutation['schema']['minimum']}" in results["bad"]["message"]


def test_the_emulator_accepts_validates_and_records_it(mutated: Any) -> None:
    """The emulator stores the new input with the job, counts it, and answers a bad value
    with the documented 422 naming it."""
    _, mutation, _, results = mutated
    emulator = results["emulator"]
    name = mutation["name"]
    assert 200 == emulator["status"]
    assert mutation["good"] == emulator["recorded"]
    assert 1 == emulator["inputs"][name]
    assert 422 == emulator["refused"]
    assert ["body", name] in [item["loc"] for item in emulator["detail"]]


def test_the_cli_has_an_option_for_it(mutated: Any) -> None:
    """``--kebab-name`` is listed with the spec's title, and sets the input, as does --input."""
    _, mutation, _, results = mutated
    name = mutation["name"]
    help_text = " ".join(results["cli_help"]["stdout"].split())
    flag = "--" + name.replace("_", "-")
    assert flag in help_text
    assert mutation["schema"]["title"] in help_text
    if mutation["required"]:
        assert "[required]" in help_text
    generated = results["cli_generate"]
    assert 0 == generated["exit_code"], generated["stderr"]
    assert {name: mutation["good"]} == json.loads(generated["stdout"])["inputs"]
    submitted = results["cli_submit_input"]
    assert 0 == submitted["exit_code"], submitted["stderr"]
    assert {name: mutation["good"]} == json.loads(submitted["stdout"])["inputs"]
    assert 2 == results["cli_bad"]["exit_code"]
    assert name in results["cli_bad"]["stderr"]
    if mutation["schema"].get("minimum") is not None:  # the option's range type refuses it
        assert 2 == results["cli_bad_option"]["exit_code"]
        assert "--" + name.replace("_", "-") in results["cli_bad_option"]["stderr"]


def _mypy(root: Path, source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    snippet = root / f"_usage_{os.getpid()}.py"
    snippet.write_text(source, encoding="utf-8")
    try:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "mypy",
                "--strict",
                "--no-incremental",
                "--cache-dir",
                str(tmp_path / "mypy-cache"),
                str(snippet),
            ],
            cwd=root,
            env=_env(root),
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    finally:
        snippet.unlink()


def test_mypy_checks_the_new_keyword(mutated: Any, tmp_path: Path) -> None:
    """The regenerated TypedDict types the keyword: mypy accepts it in the copy; it rejects it
    in the checkout (no such property) and, when required, a call of the copy without it."""
    _, mutation, copy, _ = mutated
    name = mutation["name"]
    source = USAGE.format(name=name, good=mutation["good"])
    in_copy = _mypy(copy, source, tmp_path)
    assert 0 == in_copy.returncode, in_copy.stdout
    if mutation["required"]:
        without = "from sora2 import Client\n\n\ndef use(client: Client) -> None:\n"
        without += '    client.submit("x")\n'
        control = _mypy(copy, without, tmp_path)
        expected = f'Missing named argument "{name}"'
    else:
        checkout = tmp_path / "checkout"
        copy_repo(checkout, PARTS)
        control = _mypy(checkout, source, tmp_path)
        expected = f'Unexpected keyword argument "{name}"'
    assert 1 == control.returncode, control.stdout
    assert expected in control.stdout


def test_prompt_is_not_a_keyword_of_the_generated_options() -> None:
    """The generated InputOptions holds every input but the positional prompt."""
    from sora2_models.typed_dicts import InputOptions

    expected = {name for name in input_fields() if name != PROMPT_INPUT}
    assert expected == set(InputOptions.__annotations__)
