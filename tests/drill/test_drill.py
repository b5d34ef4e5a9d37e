"""The schema-change drill (issue 11, item 8): a matrix of spec mutations, each applied to a
temporary copy of the repository, regenerated with ``python -m codegen generate``, then
exercised through the copy's Client, CLI, emulator and contract checker.

Mutations that do not interfere share a copy: the backward-compatible ones (a new optional
property of every JSON type, with and without a default; a new value of every request enum; a
new output field; a new state; a new error code) and the breaking ones (a new required
property; a removed enum value; a changed default; a changed model path). One subprocess per
copy runs ``_drill_script.py`` with ``PYTHONPATH=COPY:COPY/generated`` and prints what every
layer did, as JSON. ``codegen diff``'s verdict is asserted for each mutation on its own.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _mutations import (
    NEW_PROPERTIES,
    ROOT,
    SPEC_RELPATH,
    Mutation,
    add_enum_value,
    add_error_code,
    add_model,
    add_output,
    add_property,
    add_state,
    apply_all,
    change_default,
    change_model_path,
    copy_repo,
    load_spec,
    remove_enum_value,
)

from codegen._diff import SpecVersion, diff_versions

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("_drill_script.py")
OPTIONAL = {
    f"optional_{kind}_{'default' if default else 'plain'}": (kind, default)
    for kind in NEW_PROPERTIES
    for default in (False, True)
}


def _additive() -> list[Mutation]:
    return [
        *(Mutation(k, add_property(kind, with_default=d)) for k, (kind, d) in OPTIONAL.items()),
        Mutation("enum_added", add_enum_value),
        Mutation("output", add_output("image")),
        Mutation("state", add_state),
        Mutation("error_code", add_error_code),
        Mutation("model_added", add_model),
    ]


def _breaking() -> list[Mutation]:
    return [
        Mutation("required", add_property("string", with_default=False, required=True)),
        Mutation("enum_removed", remove_enum_value),
        Mutation("default_changed", change_default),
        Mutation("model_path", change_model_path),
    ]


COPIES = {"additive": _additive, "breaking": _breaking}


@dataclass(frozen=True)
class Drill:
    """A mutated, regenerated copy and what its code did."""

    root: Path
    facts: dict[str, dict[str, Any]]
    results: dict[str, Any]

    def prop(self, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The facts of new property ``key`` and what each layer did with it."""
        return self.facts[key], self.results["properties"][key]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA2_", "RUNCOMFY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "generated")])
    return env


def _drill(name: str, factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Drill:
    base = tmp_path_factory.mktemp(f"drill-{name}")
    root = copy_repo(base / "repo")
    facts = apply_all(root, factory())
    generated = subprocess.run(
        [sys.executable, "-m", "codegen", "--root", str(root), "generate"],
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert 0 == generated.returncode, generated.stderr
    work = base / "work"
    work.mkdir()
    properties = {k: v for k, v in facts.items() if "type" in v}
    outputs = ",".join(["video", facts["output"]["name"]]) if "output" in facts else None
    config = {
        "facts": {
            "properties": properties,
            **{k: v for k, v in facts.items() if k not in properties},
        },
        "work": str(work),
        "outputs": outputs,
    }
    (base / "config.json").write_text(json.dumps(config), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), str(base / "config.json")],
        cwd=work,
        env=_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert 0 == proc.returncode, proc.stderr[-4000:]
    return Drill(root, facts, json.loads(proc.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def additive(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    """The backward-compatible mutations, together on one regenerated copy."""
    return _drill("additive", _additive, tmp_path_factory)


@pytest.fixture(scope="module")
def breaking(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    """The breaking mutations, together on one regenerated copy."""
    return _drill("breaking", _breaking, tmp_path_factory)


# codegen diff's verdict, for each mutation on its own -----------------------------------------

# mutation -> (bump, breaks clients, breaks servers)
VERDICTS: dict[str, tuple[str, bool, bool]] = {
    **dict.fromkeys(OPTIONAL, ("minor", False, False)),
    "enum_added": ("minor", False, True),  # an old server refuses the new value
    "output": ("minor", False, False),
    "state": ("major", True, False),  # the generated closed enum KnownRequestState grows
    "error_code": ("patch", False, False),  # an example: documentation only
    "model_added": ("minor", False, True),  # an old server does not serve the new path
    "required": ("major", True, False),
    "enum_removed": ("major", True, False),
    "default_changed": ("major", True, True),
    "model_path": ("major", True, True),
}
MUTATIONS = {m.name: m for factory in COPIES.values() for m in factory()}


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_codegen_diff_verdict(name: str) -> None:
    """``codegen diff`` rates each mutation as a client/server break and a semver bump as
    expected, naming what changed."""
    old = load_spec(ROOT)
    new = copy.deepcopy(old)
    facts = MUTATIONS[name](new)
    diff = diff_versions(SpecVersion("old", old), SpecVersion("new", new))
    bump, clients, servers = VERDICTS[name]
    assert (bump, clients, servers) == (
        diff.bump,
        bool(diff.breaks_clients),
        bool(diff.breaks_servers),
    ), diff.report()
    named = facts.get("name") or facts.get("field") or facts.get("new")
    if named is not None:
        assert any(str(named) in f"{c.operation} {c.location} {c.message}" for c in diff.changes)
    assert set(VERDICTS) == set(MUTATIONS)


@pytest.mark.parametrize("which", sorted(COPIES))
def test_codegen_diff_cli_on_the_copy(which: str, request: pytest.FixtureRequest) -> None:
    """``python -m codegen diff OLD --json`` on a regenerated copy gives the same verdict as
    the API, and ``--fail-on client-breaking`` exits 1 exactly when clients break."""
    drill: Drill = request.getfixturevalue(which)
    old = ROOT / SPEC_RELPATH
    expected = diff_versions(
        SpecVersion(str(old), load_spec(ROOT)), SpecVersion("working tree", load_spec(drill.root))
    ).to_json()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "codegen", "--root", str(drill.root), "diff", str(old), *args],
            env=_env(drill.root),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    shown = run("--json")
    assert 0 == shown.returncode, shown.stderr
    got = json.loads(shown.stdout)
    assert (expected["bump"], expected["summary"]) == (got["bump"], got["summary"])
    assert expected["next_version"] == got["next_version"]
    breaks = expected["summary"]["breaking_for_clients"] > 0
    assert int(breaks) == run("--fail-on", "client-breaking").returncode


# Every layer of the copies ---------------------------------------------------------------------


@pytest.mark.parametrize("which", sorted(COPIES))
def test_the_copys_code_runs_and_conforms(which: str, request: pytest.FixtureRequest) -> None:
    """The subprocess imports the copy's sora2 and sora2_api, and every exchange the client and
    the CLI had with the copy's emulator passes the copy's contract checker."""
    drill: Drill = request.getfixturevalue(which)
    assert all(p.startswith(str(drill.root)) for p in drill.results["imported_from"])
    assert [] == drill.results["violations"]
    assert drill.results["exchanges"] > 0


@pytest.mark.parametrize("key", sorted(OPTIONAL))
def test_new_optional_property(key: str, additive: Drill) -> None:
    """A new optional property: not sent when not given (the emulator applies its default, if
    any); sent and recorded when given, by the client and by its CLI option; a value of the
    wrong type is refused before sending, by the CLI, and flagged by the contract checker."""
    facts, seen = additive.prop(key)
    name = facts["name"]
    assert facts["default"] == additive.results["fields"][name]["default"]
    without = seen["without"]["body"]
    if facts["has_default"]:
        assert facts["default"] == without[name]
    else:
        assert name not in without
    assert facts["good"] == seen["with"]["body"][name]
    assert ("InvalidInputError", name) == (seen["bad"].get("error"), seen["bad"].get("field"))
    assert "--" + name.replace("_", "-") in additive.results["help"]
    assert 0 == seen["cli"]["exit_code"], seen["cli"]["stderr"]
    assert facts["good"] == seen["cli"]["body"][name]
    assert {name: facts["good"]} == json.loads(seen["cli"]["stdout"])["inputs"]
    assert 2 == seen["cli_bad"]["exit_code"]
    assert name in seen["cli_bad"]["stderr"]
    assert [] == seen["contract_good"]
    assert f"/body/{name}" in [v["pointer"] for v in seen["contract_bad"]]


def test_every_new_property_at_once_gives_a_video(additive: Drill) -> None:
    """``generate()`` with every new input set saves a real MP4 (and a real PNG for the new
    image output), and the emulator
    counted each new input once per submission that sent it (client, CLI and generate)."""
    assert "mp4" in additive.results["generate_every"]["magic"]
    assert "other" not in additive.results["generate_every"]["magic"]
    for key in OPTIONAL:
        assert 3 == additive.results["inputs"][additive.facts[key]["name"]]


def test_new_required_property(breaking: Drill) -> None:
    """A new required property: a call without it is refused before sending, naming it; with
    it, the client and the CLI send it and the emulator records it; the CLI marks it
    required; the contract checker flags a wrong type."""
    facts, seen = breaking.prop("required")
    name = facts["name"]
    assert ("InvalidInputError", name) == (
        seen["without"].get("error"),
        seen["without"].get("field"),
    )
    assert "required" in seen["without"]["message"]
    assert facts["good"] == seen["with"]["body"][name]
    assert facts["good"] == seen["cli"]["body"][name]
    assert "[required]" in " ".join(breaking.results["help"].split())
    assert ("InvalidInputError", name) == (seen["bad"].get("error"), seen["bad"].get("field"))
    assert [] == seen["contract_good"]
    assert f"/body/{name}" in [v["pointer"] for v in seen["contract_bad"]]


def test_new_enum_values(additive: Drill) -> None:
    """A new value of every request enum is a choice of the client and of the CLI, reaches
    the emulator, passes the contract checker and gives a real MP4 (and PNG)."""
    added = additive.facts["enum_added"]["added"]
    seen = additive.results["enum_added"]
    for name, value in added.items():
        assert value in additive.results["fields"][name]["choices"]
        assert value == seen["client"]["body"][name]
        assert value == seen["cli"]["body"][name], seen["cli"]["stderr"]
    assert [] == seen["contract"]
    assert "mp4" in seen["generate"]["magic"]
    assert "other" not in seen["generate"]["magic"]


def test_removed_enum_value(breaking: Drill) -> None:
    """A removed enum value is refused before anything is sent, naming the field and what is
    left; the CLI refuses it as a bad choice; the contract checker flags it."""
    facts = breaking.facts["enum_removed"]
    seen = breaking.results["enum_removed"]
    field = facts["field"]
    assert ("InvalidInputError", field) == (seen["client"]["error"], seen["client"]["field"])
    assert all(str(v) in seen["client"]["message"] for v in facts["left"])
    assert seen["sent"] is False
    assert 2 == seen["cli"]["exit_code"]
    assert "--" + field.replace("_", "-") in seen["cli"]["stderr"]
    assert f"/body/{field}" in [v["pointer"] for v in seen["contract"]]
    assert facts["removed"] not in breaking.results["fields"][field]["choices"]


def test_changed_default(breaking: Drill) -> None:
    """A changed default: the client still sends nothing for it, the emulator applies the new
    default, and the CLI's help shows it."""
    facts = breaking.facts["default_changed"]
    body = breaking.results["default_changed"]["client"]["body"]
    assert facts["new"] == body[facts["field"]]
    assert facts["new"] == breaking.results["fields"][facts["field"]]["default"]
    assert f"[default: {facts['new']}]" in " ".join(breaking.results["help"].split())


def test_new_output_field(additive: Drill) -> None:
    """A new output field the emulator serves is listed by the client (with its spec kind) and
    by ``sora2 result --json``, and downloaded with the video."""
    facts = additive.facts["output"]
    seen = additive.results["output"]
    assert {"field": facts["name"], "kind": facts["kind"]} in seen["files"]
    expected = ["mp4" if f["kind"] == "video" else "png" for f in seen["files"]]
    assert expected == seen["magic"]
    assert 0 == seen["cli"]["exit_code"], seen["cli"]["stderr"]
    assert facts["name"] in seen["cli"]["stdout"]


def test_new_state(additive: Drill) -> None:
    """A new non-final state is known, not finished, and the wait's deadline applies: the
    wait ends in WaitTimeoutError carrying the request id, no sooner than its timeout."""
    seen = additive.results["state"]
    assert additive.facts["state"]["name"] == seen["state"]
    assert (False, True) == (seen["terminal"], seen["known"])
    assert "WaitTimeoutError" == seen["wait"]["error"]
    assert seen["wait"]["request_id"]
    assert seen["wait"]["elapsed"] >= 60


def test_new_error_code(additive: Drill) -> None:
    """An answer with a new error code is the typed error of its HTTP status (the class a
    documented code of that status gets, not the generic one), carrying the new code."""
    facts = additive.facts["error_code"]
    known, new = additive.results["error_code"]["known"], additive.results["error_code"]["code"]
    assert known["error"] == new["error"]
    assert new["error"] not in ("APIStatusError", "APIError", "Sora2Error")
    assert (facts["code"], facts["status"]) == (new["error_code"], new["status_code"])


def test_changed_model_path(breaking: Drill) -> None:
    """After the model path changes, the client submits to the new path and the emulator
    serves only that one; the contract checker flags a request to the old path."""
    facts = breaking.facts["model_path"]
    seen = breaking.results["model_path"]
    assert facts["new"] == breaking.results["submit_path"]
    assert "ok" in seen["client"], seen["client"]
    assert seen["urls"][0].endswith(facts["new"])
    assert [] == seen["contract_new"]
    assert seen["contract_old"], "a request to the old path must be flagged"
    assert seen["emulator_old"] in (404, 405)


def test_new_model(additive: Drill) -> None:
    """A fourth model added by a spec edit and a regeneration: the client submits to its own
    path and the emulator records the job; its own input is checked against its own schema
    before sending (and by the emulator and the contract checker); an unknown model is refused
    naming the known ones, this one included; generate() saves a real MP4; the journal records
    the model; the emulator serves its model document; the CLI takes ``--model``."""
    facts = additive.facts["model_added"]
    seen = additive.results["model_added"]
    field = facts["field"]
    assert "ok" in seen["client"], seen["client"]
    assert facts["good"] == seen["client"]["body"][field]
    assert any(url.endswith(facts["path"]) for url in seen["urls"])
    assert tuple(facts["choices"]) == tuple(seen["fields"][field]["choices"])
    assert ("InvalidInputError", field) == (seen["bad"].get("error"), seen["bad"].get("field"))
    assert ("InvalidInputError", "model") == (
        seen["unknown"].get("error"),
        seen["unknown"].get("field"),
    )
    assert facts["model"] in seen["unknown"]["message"]
    assert "mp4" in seen["generate"]["magic"]
    assert "other" not in seen["generate"]["magic"]
    assert facts["model"] in seen["journal"]
    assert (200, facts["model"]) == (
        seen["document"]["status"],
        seen["document"]["body"]["model_id"],
    )
    assert 422 == seen["emulator_bad"]["status"]
    assert ["body", field] == seen["emulator_bad"]["body"]["detail"][0]["loc"]
    assert [] == seen["contract_good"]
    assert f"/body/{field}" in [v["pointer"] for v in seen["contract_bad"]]
    assert 0 == seen["cli"]["exit_code"], seen["cli"]["stderr"]
