"""Costs on the command line: sora2 price, --max-cost on generate and batch (nothing submitted
over it), batch --dry-run's estimate per model, and the spend sora2 jobs shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sora2._inputs import hosted_inputs, input_fields, job_seconds
from sora2._journal import Journal
from sora2._options import PRICE_FIELD, format_usd
from sora2._spec import default_model, models, resolve
from sora2.emulator import create_app, serve

from .helpers import TOKEN, FakeClock, run

MODELS = list(models())


def _price(model_id: str) -> float:
    document = models()[model_id].document
    assert document is not None
    content = resolve(document.raw["responses"]["200"])["content"]["application/json"]
    value: float = next(iter(content["examples"].values()))["value"][PRICE_FIELD]
    return value


def _estimate(model_id: str, body: dict[str, Any]) -> float:
    seconds = job_seconds(body, model_id)
    assert seconds is not None
    return round(_price(model_id) * seconds, 6)


def _row(model_id: str) -> dict[str, Any]:
    row: dict[str, Any] = {"prompt": f"a harbour for {model_id}", "model": model_id}
    for name, field in input_fields(model_id).items():
        if field.required and name not in row:
            row[name] = field.schema["examples"][0]
    return row


@pytest.mark.usefixtures("fake_time")
class TestPrice:
    @pytest.mark.parametrize("model_id", MODELS)
    def test_prints_the_estimate(self, model_id: str) -> None:
        """sora2 price --model M prints the model's price multiplied out; --json carries it."""
        result = run("price", "--emulator", "--model", model_id, "--json")
        assert 0 == result.exit_code, result.stderr
        payload = json.loads(result.stdout)
        assert _estimate(model_id, {}) == payload["estimate_usd"]
        line = run("price", "--emulator", "--model", model_id).stdout
        assert format_usd(_estimate(model_id, {})) in line


class TestMaxCost:
    def test_generate_over_the_budget_submits_nothing(
        self, fake_time: FakeClock, token: str, tmp_path: Path
    ) -> None:
        """--max-cost under the estimate: an error naming max_cost and the estimate, and the
        emulator's stats show no submission."""
        app = create_app(clock=fake_time.monotonic, token=TOKEN)
        estimate = _estimate(default_model(), {})
        with serve(app) as url:
            result = run("generate", "--base-url", url, "a cat", "--max-cost", str(estimate / 2))
        assert 0 != result.exit_code
        assert "max_cost" in result.stderr and format_usd(estimate) in result.stderr
        assert 0 == sum(app.stats.submissions.values())

    def test_batch_budget_counts_what_is_already_paid(
        self, fake_time: FakeClock, tmp_path: Path
    ) -> None:
        """A re-run of a batch counts the jobs of the first run against --max-cost."""
        rows = tmp_path / "rows.jsonl"
        rows.write_text(json.dumps({"prompt": "one"}) + "\n", encoding="utf-8")
        journal = tmp_path / "journal.sqlite3"
        out = tmp_path / "out"
        first = run(
            "batch", str(rows), "--out-dir", str(out), "--emulator", "-q", "--journal", str(journal)
        )
        assert 0 == first.exit_code, first.stderr
        each = _estimate(default_model(), {})
        rows.write_text(
            json.dumps({"prompt": "one"}) + "\n" + json.dumps({"prompt": "two"}) + "\n",
            encoding="utf-8",
        )
        again = run(
            "batch", str(rows), "--out-dir", str(out), "--emulator", "--dry-run",
            "--max-cost", str(each * 1.5),
        )  # fmt: skip
        assert "--max-cost" in again.stdout and "0 of 1 job would be submitted" in again.stdout


@pytest.mark.usefixtures("fake_time")
def test_a_batch_mixing_the_models_shows_its_cost(tmp_path: Path) -> None:
    """A batch of every model: --dry-run shows the estimated total per model, the run
    completes, and sora2 jobs shows each job's estimate and the spend so far."""
    rows = tmp_path / "rows.jsonl"
    bodies = [_row(m) for m in MODELS]
    rows.write_text("".join(json.dumps(b) + "\n" for b in bodies), encoding="utf-8")
    journal = tmp_path / "journal.sqlite3"
    common = ["--out-dir", str(tmp_path / "out"), "--emulator", "--journal", str(journal)]
    expected = {m: _estimate(m, b) for m, b in zip(MODELS, bodies, strict=True)}
    plan = run("batch", str(rows), *common, "--dry-run")
    assert 0 == plan.exit_code, plan.stderr
    for model_id, usd in expected.items():
        assert f"{model_id}: 1 job, {format_usd(usd)}" in plan.stdout
    assert f"estimated cost: {format_usd(sum(expected.values()))}" in plan.stdout
    done = run("batch", str(rows), *common, "-q")
    assert 0 == done.exit_code, done.stderr
    records = Journal(journal).records()
    assert expected == {r.model: r.estimate_usd for r in records}
    listed = run("jobs", "--journal", str(journal))
    assert f"spent so far (estimated): {format_usd(sum(expected.values()))}" in listed.stderr
    assert any(hosted_inputs(m) for m in MODELS)  # the image model took part


class TestUnreadablePrice:
    def test_generate_warns_and_goes_on(
        self, fake_time: FakeClock, token: str, tmp_path: Path
    ) -> None:
        """The price route failing: a warning line on stderr, and the job is made."""
        app = create_app(clock=fake_time.monotonic, token=TOKEN, faults="model:500")
        with serve(app) as url:
            result = run("submit", "--base-url", url, "a cat")
        assert 0 == result.exit_code, result.stderr
        assert "warning: cannot estimate" in result.stderr
        assert 1 == sum(app.stats.submissions.values())

    def test_with_max_cost_nothing_is_submitted(
        self, fake_time: FakeClock, token: str, tmp_path: Path
    ) -> None:
        """The price route failing with --max-cost: refused, saying why; nothing submitted."""
        app = create_app(clock=fake_time.monotonic, token=TOKEN, faults="model:500")
        with serve(app) as url:
            result = run("generate", "--base-url", url, "a cat", "--max-cost", "100")
        assert 0 != result.exit_code
        assert "cannot estimate" in result.stderr and "max_cost" in result.stderr
        assert 0 == sum(app.stats.submissions.values())
