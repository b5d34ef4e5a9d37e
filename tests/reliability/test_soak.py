"""The fault soak: 200 ``generate()`` calls through one client against an emulator that fails in
every way it can, over real HTTP. Nothing is paid for twice, nothing is lost, nothing is half
written, and every failure is a typed error that names its job."""

from __future__ import annotations

import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from sora2 import Client, Sora2Error, Submission, SubmissionUnknownError
from sora2.emulator import create_app, serve

from .helpers import TOKEN, choices, leftovers, report

JOBS = 200
THREADS = 20
"""Callers sharing the one client, as a web app's request handlers would."""
SPEED = 50.0
"""Emulated jobs finish in well under a second, so the soak is about faults, not waiting."""
CLIENT_TIMEOUT = 2.0
"""Per request: short, so the rare very slow answer below becomes a read timeout."""
FAULTS = ",".join(
    [
        "*:429=1@rate=0.03",  # rate limited, Retry-After: 1
        "*:500@rate=0.02",
        "*:502@rate=0.02",  # an edge proxy's HTML page
        "*:503=1@rate=0.02",
        "*:drop@rate=0.02",  # the request is processed, the answer lost
        "*:truncate@rate=0.02",  # half the JSON
        "*:slow=0.2@rate=0.05",
        "*:slow=2.5@rate=0.005",  # past CLIENT_TIMEOUT: a read timeout
        "video:500@rate=0.03",
        "video:drop@rate=0.03",
        "video:slow=0.2@rate=0.05",
    ]
)
"""Every fault type at a realistic rate: about one request in six meets one. ``truncate`` is
not applied to the video: it keeps Content-Length consistent with the cut, which a real
truncated download never does, so no client could tell it from a shorter video."""
SEED = 2024


def _journal_rows(path: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute("SELECT * FROM jobs")]


@pytest.mark.slow
def test_fault_soak(tmp_path: Path, record_property: Callable[[str, object], None]) -> None:
    """200 generate() calls under every fault: each ends with a complete file or a typed error
    naming its job; no prompt is submitted twice; every job id is journaled; no partial file."""
    app = create_app(token=TOKEN, speed=SPEED, seed=SEED, faults=FAULTS, workers=8)
    out = tmp_path / "videos"
    out.mkdir()
    journal = tmp_path / "journal.sqlite3"
    sizes, durations = choices("size"), choices("seconds")
    prompts = {i: f"soak job {i:03d}: a paper boat in the rain" for i in range(JOBS)}
    ids: dict[str, str] = {}
    outcomes: dict[str, Path | BaseException] = {}
    started = time.monotonic()

    with (
        serve(app) as url,
        Client(TOKEN, base_url=url, journal=journal, timeout=CLIENT_TIMEOUT) as client,
    ):

        def one(i: int) -> None:
            prompt = prompts[i]

            def on_submit(submission: Submission) -> None:
                ids[prompt] = submission.request_id

            try:
                (outcomes[prompt],) = client.generate(
                    prompt,
                    size=sizes[i % len(sizes)],
                    seconds=durations[i % len(durations)],
                    out=out / f"{i:03d}.mp4",
                    on_submit=on_submit,
                )
            except BaseException as exc:  # the assertions below are on its type
                outcomes[prompt] = exc

        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(one, range(JOBS)))
        soak_seconds = time.monotonic() - started
        faults_seen = dict(app.stats.faults)
        statuses = dict(app.stats.statuses)

        rows = {row["prompt"]: row for row in _journal_rows(journal)}

        # Nothing is lost: with the faults gone, resume() finishes every journaled job.
        app.faults = None
        resumed = client.resume(out_dir=tmp_path / "resumed")

        # What a complete video of each kind is, fetched without faults.
        expected: dict[tuple[str, int], bytes] = {}
        with httpx.Client() as plain:
            for row in _journal_rows(journal):
                params = _params(row)
                key = (params["size"], params["seconds"])
                if row["video_url"] and key not in expected:
                    expected[key] = plain.get(row["video_url"]).raise_for_status().content

    completed = {p: o for p, o in outcomes.items() if isinstance(o, Path)}
    errors = {p: o for p, o in outcomes.items() if not isinstance(o, Path)}
    untyped = {p: repr(e) for p, e in errors.items() if not isinstance(e, Sora2Error)}
    submissions = app.stats.submissions

    # 1. Every job completed, or raised a typed error naming its job when it has one.
    assert JOBS == len(outcomes)
    assert {} == untyped
    for prompt, error in errors.items():
        assert isinstance(error, Sora2Error)
        known = ids.get(prompt) or (rows[prompt]["request_id"] if prompt in rows else None)
        if known is not None:
            assert known == error.request_id, (prompt, repr(error))
        else:
            # No id ever reached the client: the submit was refused, or its outcome is unknown
            # and the error says so (the job may exist: that is the one thing not retried).
            assert isinstance(error, SubmissionUnknownError) or 0 == submissions[prompt], (
                prompt,
                repr(error),
            )

    # 2. No prompt was submitted twice.
    duplicates = {p: n for p, n in submissions.items() if n > 1}
    assert {} == duplicates
    assert set(submissions) <= set(prompts.values())

    # 3. Every request id the client saw is journaled; every job the emulator made is either
    #    journaled or was reported to its caller as SubmissionUnknownError.
    seen_ids = dict(ids) | {
        p: e.request_id for p, e in errors.items() if isinstance(e, Sora2Error) and e.request_id
    }
    for prompt, request_id in seen_ids.items():
        assert request_id == rows[prompt]["request_id"]
    unjournaled = {p for p in submissions if p not in rows}
    assert all(isinstance(errors.get(p), SubmissionUnknownError) for p in unjournaled)
    assert len(rows) == len(set(r["request_id"] for r in rows.values()))

    # 4. No partial file: each target holds a whole video or nothing, and no temporary is left.
    for i, prompt in prompts.items():
        target = out / f"{i:03d}.mp4"
        if prompt in completed:
            assert target == completed[prompt]
            params = _params(rows[prompt])
            assert expected[(params["size"], params["seconds"])] == target.read_bytes()
        else:
            assert not target.exists(), prompt
    assert [] == leftovers(out)
    assert sorted(f"{i:03d}.mp4" for i, p in prompts.items() if p in completed) == sorted(
        p.name for p in out.iterdir()
    )

    # 5. resume() finished every journaled job, and none was submitted again.
    final = {row["prompt"]: row for row in _journal_rows(journal)}
    assert {"completed"} == {row["state"] for row in final.values()}
    assert all(row["output_path"] for row in final.values())
    assert {} == {p: n for p, n in app.stats.submissions.items() if n > 1}
    for record in resumed:
        key = (record.params["size"], record.params["seconds"])
        assert expected[key] == Path(str(record.output_path)).read_bytes()

    error_kinds = Counter(type(e).__name__ for e in errors.values())
    report(
        record_property,
        "fault soak",
        {
            "jobs": JOBS,
            "completed": len(completed),
            "typed_errors": dict(error_kinds),
            "errors_with_request_id": sum(1 for e in errors.values() if _rid(e)),
            "untyped_errors": len(untyped),
            "emulator_jobs_created": sum(submissions.values()),
            "duplicate_submissions": len(duplicates),
            "journal_rows": len(rows),
            "unknown_submissions_not_journaled": len(unjournaled),
            "resumed_after_faults_off": len(resumed),
            "faults_injected": faults_seen,
            "http_statuses": statuses,
            "requests": dict(app.stats.requests),
            "soak_seconds": round(soak_seconds, 1),
        },
    )


def _params(row: dict[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = json.loads(row["params"])
    return params


def _rid(error: BaseException) -> str | None:
    return error.request_id if isinstance(error, Sora2Error) else None
