"""Runs inside a regenerated copy (``PYTHONPATH=COPY:COPY/generated``): every layer at once.

``python _drill_script.py CONFIG.json`` reads the mutations' facts, drives the copy's Client,
CLI (in process, through its one client seam), emulator and contract checker with them, and
prints one JSON object of what happened; the drill's tests assert on it. Nothing here decides
pass or fail. The emulator runs in process on a fake clock shared with the client, so waiting
takes no real time; every API exchange goes through a recording contract transport.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import httpx

TOKEN = "sk-drill-token"
BASE_URL = "http://127.0.0.1"  # loopback: the client downloads the emulator's http URLs


class Clock:
    """Fake time for the client (monotonic, time, sleep) and the emulator (callable)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now + 1_800_000_000.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.now += seconds


class Rewriter(httpx.BaseTransport):
    """The emulator, except for what a test asks of it: a job stuck in a new state, or an
    error answer with a new error code for the next submission."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.stuck: dict[str, str] = {}  # request id -> state its answers report
        self.next_error: tuple[int, dict[str, Any]] | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.next_error is not None and request.method == "POST":
            status, body = self.next_error
            self.next_error = None
            return httpx.Response(status, json=body, headers={"Retry-After": "1"})
        response = self.inner.handle_request(request)
        for request_id, state in self.stuck.items():
            if request_id in request.url.path and request.method == "GET":
                response.read()
                body = {"request_id": request_id, "status": state}
                return httpx.Response(200, json=body)
        return response


def magic(path: str | Path) -> str:
    """What a file really is, from its first bytes: ``mp4``, ``png`` or ``other``."""
    head = Path(path).read_bytes()[:12]
    if head[4:8] == b"ftyp":
        return "mp4"
    return "png" if head.startswith(b"\x89PNG") else "other"


def main() -> None:
    config: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    facts: dict[str, Any] = config["facts"]
    work = Path(config["work"])
    out: dict[str, Any] = {}

    import sora2_api

    import sora2

    out["imported_from"] = [sora2.__file__, sora2_api.__file__]

    from sora2 import Client, InvalidInputError, Sora2Error, WaitTimeoutError
    from sora2._cli import _common
    from sora2._cli import main as cli_main
    from sora2._inputs import input_fields
    from sora2._spec import operation, server_url
    from sora2.contract import ContractRecorder, check_request
    from sora2.emulator import SyncASGITransport, create_app

    clock = Clock()
    app = create_app(token=TOKEN, clock=clock, outputs=config.get("outputs") or "video")
    recorder = ContractRecorder()
    rewriter = Rewriter(SyncASGITransport(app))
    transport = recorder.transport(rewriter)
    submit_path = operation("submit").url_path()
    out["submit_path"] = submit_path

    def client(**options: Any) -> Client:
        return Client(
            TOKEN,
            base_url=BASE_URL,
            transport=transport,
            journal=work / "journal.sqlite3",
            _clock=clock,
            **options,
        )

    _common.make_client = lambda settings: client()  # the CLI's one seam

    required = {p["name"]: p["good"] for p in facts.get("properties", {}).values() if p["required"]}

    def attempt(call: Any) -> dict[str, Any]:
        try:
            return {"ok": call()}
        except InvalidInputError as exc:
            return {"error": type(exc).__name__, "field": exc.field, "message": str(exc)}
        except Sora2Error as exc:
            return {
                "error": type(exc).__name__,
                "message": str(exc),
                "request_id": getattr(exc, "request_id", None),
                "error_code": getattr(exc, "error_code", None),
                "status_code": getattr(exc, "status_code", None),
            }

    def submitted(**inputs: Any) -> dict[str, Any]:
        """Submit through the client; what the emulator recorded for the job."""
        with client() as c:
            found = attempt(lambda: c.submit("drill", **{**required, **inputs}).request_id)
        if "ok" in found:
            found["body"] = app.job(found["ok"]).body
        return found

    def cli(*args: str) -> dict[str, Any]:
        stdout, stderr = io.StringIO(), io.StringIO()
        code: Any = 0
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                code = cli_main(list(args)) or 0
            except SystemExit as exc:
                code = exc.code
        return {"exit_code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}

    def flag_args(name: str, value: Any) -> list[str]:
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            return [flag if value else "--no-" + flag[2:]]
        if isinstance(value, str):
            return [flag, value]
        return [flag, json.dumps(value)]

    required_args = [a for name, value in required.items() for a in flag_args(name, value)]

    def cli_submit(*args: str) -> dict[str, Any]:
        found = cli("submit", "drill cli", *args, *required_args, "--json")
        if found["exit_code"] == 0:
            request_id = json.loads(found["stdout"])["request_id"]
            found["body"] = app.job(request_id).body
        return found

    def contract(body: dict[str, Any], path: str | None = None) -> list[dict[str, Any]]:
        request = httpx.Request(
            "POST",
            server_url() + (path or submit_path),
            json={"prompt": "drill", **required, **body},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        return [v.to_dict() for v in check_request(request)]

    out["fields"] = {
        name: {"default": f.default if f.has_default else None, "choices": f.choices}
        for name, f in input_fields().items()
    }
    out["help"] = cli("generate", "--help")["stdout"]

    # New properties: optional and required, of every JSON type.
    props: dict[str, Any] = {}
    for key, prop in facts.get("properties", {}).items():
        name, good, bad = prop["name"], prop["good"], prop["bad"]
        others = {k: v for k, v in required.items() if k != name}
        found: dict[str, Any] = {}
        with client() as c:
            found["without"] = attempt(lambda c=c, o=others: c.submit("drill", **o).request_id)
        if "ok" in found["without"]:
            found["without"]["body"] = app.job(found["without"]["ok"]).body
        found["with"] = submitted(**{name: good})
        found["bad"] = submitted(**{name: bad})
        found["cli"] = cli_submit(*flag_args(name, good))
        found["cli_bad"] = cli(
            "submit",
            "x",
            "--input",
            f"{name}={json.dumps(bad)}",
            *[a for n, v in others.items() for a in flag_args(n, v)],
        )
        found["contract_good"] = contract({name: good})
        found["contract_bad"] = contract({name: bad})
        props[key] = found
    out["properties"] = props
    if props:
        every = {p["name"]: p["good"] for p in facts["properties"].values()}
        with client() as c:
            paths = c.generate("drill, every new input", out=work / "every.mp4", **every)
        out["generate_every"] = {
            "paths": [str(p) for p in paths],
            "magic": [magic(p) for p in paths],
        }

    # New enum values: accepted everywhere, and a real video comes out.
    if "enum_added" in facts:
        added = facts["enum_added"]["added"]
        found = {"client": submitted(**added)}
        found["cli"] = cli_submit(*[a for n, v in added.items() for a in flag_args(n, str(v))])
        found["contract"] = contract(added)
        with client() as c:
            paths = c.generate("drill, new enum values", out=work / "enum.mp4", **added)
        found["generate"] = {"paths": [str(p) for p in paths], "magic": [magic(p) for p in paths]}
        out["enum_added"] = found

    # A removed enum value: refused before sending, by the CLI, and flagged by the checker.
    if "enum_removed" in facts:
        field, removed = facts["enum_removed"]["field"], facts["enum_removed"]["removed"]
        before = sum(app.stats.inputs.values()), len(recorder.exchanges)
        found = {"client": submitted(**{field: removed})}
        found["sent"] = [sum(app.stats.inputs.values()), len(recorder.exchanges)] != list(before)
        found["cli"] = cli("submit", "x", *flag_args(field, str(removed)), *required_args)
        found["contract"] = contract({field: removed})
        out["enum_removed"] = found

    # A changed default: the service (emulator) applies the new one; the CLI shows it.
    if "default_changed" in facts:
        out["default_changed"] = {"client": submitted()}

    # A new output field: served, listed by the client and the CLI, downloaded.
    if "output" in facts:
        name = facts["output"]["name"]
        with client() as c:
            request_id = c.submit("drill, new output", **required).request_id
            c.wait(request_id)
            result_ = c.result(request_id)
            files = [{"field": f.field, "kind": f.kind} for f in result_.files]
            paths = c.download(result_, work / "outputs" / "job.mp4")
        result = cli("result", request_id, "--json")
        out["output"] = {
            "paths": [str(p) for p in paths],
            "magic": [magic(p) for p in paths],
            "files": files,
            "cli": result,
            "name": name,
        }

    # A new state: not finished; the wait's deadline applies; the checker accepts it.
    if "state" in facts:
        state = facts["state"]["name"]
        with client() as c:
            request_id = c.submit("drill, new state", **required).request_id
            rewriter.stuck[request_id] = state
            status = c.status(request_id)
            started = clock.now
            try:
                c.wait(request_id, timeout=60)
                waited: dict[str, Any] = {"returned": True}
            except WaitTimeoutError as exc:
                waited = {"error": type(exc).__name__, "request_id": exc.request_id}
            waited["elapsed"] = clock.now - started
            del rewriter.stuck[request_id]
        out["state"] = {
            "state": status.state,
            "terminal": status.is_terminal,
            "known": status.is_known,
            "wait": waited,
        }

    # A new error code: the typed error of its HTTP status, carrying the code.
    if "error_code" in facts:
        status_code = facts["error_code"]["status"]
        out["error_code"] = {}
        for which in ("known", "code"):  # a documented code of that status, then the new one
            code = facts["error_code"][which]
            rewriter.next_error = (status_code, {"error_code": code, "message": "A reason."})
            with client(max_retries=0) as c:
                found = attempt(lambda c=c: c.submit("drill", **required).request_id)
            out["error_code"][which] = found

    # A changed model path: the client follows it; the checker flags the old one.
    if "model_path" in facts:
        old = facts["model_path"]["old"]
        found = {"client": submitted()}
        found["urls"] = [e.url for e in recorder.exchanges if e.method == "POST"][-1:]
        found["contract_old"] = contract({}, path=old)
        found["contract_new"] = contract({})
        with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as http:
            found["emulator_old"] = http.post(
                old, json={"prompt": "x", **required}, headers={"Authorization": f"Bearer {TOKEN}"}
            ).status_code
        out["model_path"] = found

    # A fourth model, added by a spec edit: the client submits to its path, checked against
    # its own schema; the emulator serves it; the checker knows it; the CLI takes --model.
    if "model_added" in facts:
        added = facts["model_added"]
        model, field = added["model"], added["field"]
        found = {}
        with client() as c:
            found["client"] = attempt(
                lambda c=c: (
                    c.submit("drill model", model=model, **{field: added["good"]}).request_id
                )
            )
            found["bad"] = attempt(
                lambda c=c: c.submit("drill model", model=model, **{field: added["bad"]}).request_id
            )
            found["unknown"] = attempt(
                lambda c=c: c.submit("drill model", model=model + "-nope").request_id
            )
            paths = c.generate("drill, fourth model", out=work / "model.mp4", model=model)
            found["journal"] = [r.model for r in c.jobs()]
        if "ok" in found["client"]:
            found["client"]["body"] = app.job(found["client"]["ok"]).body
        found["urls"] = [e.url for e in recorder.exchanges if e.method == "POST"]
        found["generate"] = {"magic": [magic(p) for p in paths]}
        found["fields"] = {
            name: {"choices": f.choices, "default": f.default if f.has_default else None}
            for name, f in input_fields(model).items()
        }
        found["cli"] = cli("submit", "drill cli model", "--model", model, "--json")
        found["contract_good"] = contract({field: added["good"]}, path=added["path"])
        found["contract_bad"] = contract({field: added["bad"]}, path=added["path"])
        with httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL) as http:
            document = http.get(added["path"], headers={"Authorization": f"Bearer {TOKEN}"})
            found["document"] = {"status": document.status_code, "body": document.json()}
            refused = http.post(
                added["path"],
                json={"prompt": "x", field: added["bad"]},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            found["emulator_bad"] = {"status": refused.status_code, "body": refused.json()}
        out["model_added"] = found

    out["violations"] = [v.to_dict() for v in recorder.violations]
    out["exchanges"] = len(recorder.exchanges)
    out["inputs"] = dict(app.stats.inputs)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    main()
