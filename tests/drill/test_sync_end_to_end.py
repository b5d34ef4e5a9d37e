"""Issue 14 end to end: a field the model's API page gains flows from ``codegen sync`` to a video.

A copy of the seed page (the service's documentation) gets one more input property, in
RunComfy's dialect (``"type": "float"``, ``"default": null``). ``python -m codegen sync PAGE
--generate`` merges it into a copy of the repository's spec and regenerates; then, with no hand
edit, the copy's ``sora2 generate`` has an option for it, sends it, the emulator receives it,
and a real MP4 comes out: through ``--emulator`` and through an emulator served on 127.0.0.1.
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
from _mutations import ROOT, copy_repo, input_schema, load_spec

pytestmark = pytest.mark.slow

# The published model page the spec was written from, kept in the repository (spec/upstream/).
SEED = ROOT / "spec" / "upstream" / "openai-sora-2-text-to-video.txt"
INPUT_HEADING = "Input schema"
TOKEN = "sk-drill-sync-token"
VALUE = 0.75

# Serves the copy's emulator on 127.0.0.1, runs the copy's CLI against it as a real process,
# and prints the CLI's answer and what the emulator recorded.
SERVED = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from sora2.emulator import create_app, serve
    token, args = sys.argv[1], sys.argv[2:]
    app = create_app(token=token, speed=50)
    with serve(app) as url:
        proc = subprocess.run(
            [sys.executable, "-m", "sora2", "generate", *args, "--base-url", url, "--json"],
            env={**os.environ, "RUNCOMFY_API_TOKEN": token},
            capture_output=True, text=True, timeout=300,
        )
        found = {"exit_code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-2000:]}
        if proc.returncode == 0:
            found["body"] = app.job(json.loads(proc.stdout)["request_id"]).body
        found["inputs"] = dict(app.stats.inputs)
    print(json.dumps(found))
    """
)


def _page_with(name: str, prop: dict[str, Any]) -> str:
    """The seed page with ``prop`` added to its input schema block, in the page's own layout."""
    text = SEED.read_text(encoding="utf-8")
    start = text.index("{", text.index(INPUT_HEADING))
    block, end = json.JSONDecoder().raw_decode(text, start)
    block["properties"][name] = prop
    return text[:start] + json.dumps(block, indent=1, ensure_ascii=False) + text[end:]


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA2_", "RUNCOMFY_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(root), str(root / "generated")])
    return env


def _run(root: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=_env(root),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )


def _is_mp4(path: Path) -> bool:
    return path.read_bytes()[4:8] == b"ftyp"


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A repository copy synced from an edited seed page and regenerated, and its CLI's runs."""
    base = tmp_path_factory.mktemp("sync-e2e")
    root = copy_repo(base / "repo")
    name = "guidance"
    while name in input_schema(load_spec(root))["properties"]:
        name += "_new"
    page = base / "page.txt"
    prop = {
        "title": "Guidance",
        "description": "How closely the video follows the prompt.",
        "type": "float",  # RunComfy's dialect: normalised to number
        "minimum": 0,
        "maximum": 1,
        "default": None,  # RunComfy's dialect: no default
    }
    page.write_text(_page_with(name, prop), encoding="utf-8")
    sync = _run(
        root, "-m", "codegen", "--root", str(root), "sync", str(page), "--generate", cwd=root
    )
    work = base / "work"
    work.mkdir()
    flag = "--" + name.replace("_", "-")
    direct = _run(
        root,
        "-m",
        "sora2",
        "generate",
        "a lighthouse at dawn",
        flag,
        str(VALUE),
        "--emulator",
        "--out",
        str(work / "direct.mp4"),
        "--journal",
        str(work / "direct.sqlite3"),
        "--json",
        cwd=work,
    )
    served = _run(
        root,
        "-c",
        SERVED,
        TOKEN,
        "a lighthouse at dusk",
        flag,
        str(VALUE),
        "--out",
        str(work / "served.mp4"),
        "--journal",
        str(work / "served.sqlite3"),
        cwd=work,
    )
    return {
        "root": root,
        "name": name,
        "work": work,
        "sync": sync,
        "direct": direct,
        "served": served,
        "help": _run(root, "-m", "sora2", "generate", "--help", cwd=work),
    }


def test_sync_merges_the_field_and_regenerates(synced: dict[str, Any]) -> None:
    """``codegen sync PAGE --generate`` adds the field to the spec, normalised (a number, no
    default), reports it, and leaves generated code that ``codegen check`` accepts."""
    sync = synced["sync"]
    assert 0 == sync.returncode, sync.stderr
    assert synced["name"] in sync.stdout
    spec = input_schema(load_spec(synced["root"]))["properties"][synced["name"]]
    assert "number" == spec["type"]
    assert "default" not in spec
    check = _run(synced["root"], "-m", "codegen", "--root", str(synced["root"]), "check", cwd=ROOT)
    assert 0 == check.returncode, check.stderr


def test_the_cli_option_reaches_the_in_process_emulator(synced: dict[str, Any]) -> None:
    """``sora2 generate --emulator ... --FIELD V --out X.mp4`` sends the field and saves an MP4."""
    help_text = synced["help"].stdout
    assert "--" + synced["name"].replace("_", "-") in help_text
    direct = synced["direct"]
    assert 0 == direct.returncode, direct.stderr
    answer = json.loads(direct.stdout)
    assert {synced["name"]: VALUE} == answer["inputs"]
    assert [str(synced["work"] / "direct.mp4")] == answer["paths"]
    assert _is_mp4(synced["work"] / "direct.mp4")


def test_the_served_emulator_receives_the_field(synced: dict[str, Any]) -> None:
    """Against an emulator on 127.0.0.1, the CLI process's job carries the field and its MP4
    is saved."""
    served = synced["served"]
    assert 0 == served.returncode, served.stderr
    found = json.loads(served.stdout.splitlines()[-1])
    assert 0 == found["exit_code"], found["stderr"]
    assert VALUE == found["body"][synced["name"]]
    assert 1 == found["inputs"][synced["name"]]
    assert _is_mp4(synced["work"] / "served.mp4")
