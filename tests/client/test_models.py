"""Choosing a model: each model of the spec is submitted to its own path, checked against its
own input schema first, and journaled; an unknown model is refused naming the known ones."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from sora2 import InvalidInputError
from sora2._inputs import input_fields
from sora2._journal import Journal
from sora2._operations import submit_request
from sora2._spec import default_model, model, models, resolve
from sora2.emulator import Emulator

from .helpers import Api, stats_submissions

pytestmark = pytest.mark.anyio


def _required_values(model_id: str) -> dict[str, Any]:
    """A valid value for each required input of a model but the prompt, from the spec's own
    examples."""
    values: dict[str, Any] = {}
    for name, field in input_fields(model_id).items():
        if field.required and name != "prompt":
            examples = field.schema.get("examples") or resolve(field.schema).get("examples")
            values[name] = examples[0]
    return values


def _hosted_fields(model_id: str) -> list[str]:
    """The inputs of a model that are hosted files: the ones whose schema requires https."""
    return [
        name
        for name, field in input_fields(model_id).items()
        if field.pattern is not None and "https" in field.pattern
    ]


MODELS = list(models())


class TestSubmitTo:
    @pytest.mark.parametrize("model_id", MODELS)
    async def test_each_model_goes_to_its_own_path(
        self, api: Api, emulator: Emulator, model_id: str
    ) -> None:
        """submit(model=...) sends the body to that model's submit path and the emulator takes
        the job."""
        await api.submit("a quiet harbour", model=model_id, **_required_values(model_id))
        assert 1 == stats_submissions(emulator)
        request = submit_request(model_id, {"prompt": "x", **_required_values(model_id)})
        assert model(model_id).submit.path == request["url"]

    async def test_the_default_is_the_spec_default_model(self, api: Api) -> None:
        """Without model=, the job is journaled as the spec's default model's."""
        submission = await api.submit("a quiet harbour")
        record = api.client.journal.get(submission.request_id)
        assert default_model() == record.model

    @pytest.mark.parametrize("model_id", MODELS)
    async def test_the_journal_records_the_model(self, api: Api, model_id: str) -> None:
        """Each job's row names the model it was submitted to."""
        submission = await api.submit("x", model=model_id, **_required_values(model_id))
        assert model_id == api.client.journal.get(submission.request_id).model

    async def test_an_unknown_model_is_refused_before_sending(
        self, api: Api, emulator: Emulator
    ) -> None:
        """An unknown model id is an InvalidInputError on ``model`` listing every known model;
        nothing is sent."""
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", model="openai/sora-3/text-to-video")
        assert "model" == caught.value.field
        for known in MODELS:
            assert known in str(caught.value)
        assert 0 == stats_submissions(emulator)


class TestOwnSchema:
    @pytest.mark.parametrize("model_id", [m for m in MODELS if _hosted_fields(m)])
    @pytest.mark.parametrize("value", ["http://example.com/cat.jpg", "./cat.jpg", "cat.jpg"])
    async def test_a_hosted_file_must_be_an_https_url(
        self, api: Api, emulator: Emulator, model_id: str, value: str
    ) -> None:
        """A hosted-file input given as plain http or a local path is refused before sending,
        naming the field."""
        for name in _hosted_fields(model_id):
            inputs = {**_required_values(model_id), name: value}
            with pytest.raises(InvalidInputError) as caught:
                await api.submit("x", model=model_id, **inputs)
            assert name == caught.value.field
            assert "HTTPS" in str(caught.value)
        assert 0 == stats_submissions(emulator)

    @pytest.mark.parametrize("model_id", [m for m in MODELS if _required_values(m)])
    async def test_a_required_input_of_the_model_is_required(
        self, api: Api, emulator: Emulator, model_id: str
    ) -> None:
        """Leaving out an input only that model requires is refused, naming it."""
        missing = next(iter(_required_values(model_id)))
        with pytest.raises(InvalidInputError) as caught:
            await api.submit("x", model=model_id)
        assert missing == caught.value.field
        assert 0 == stats_submissions(emulator)

    async def test_generate_with_another_model_saves_a_video(
        self, api: Api, tmp_path: Path
    ) -> None:
        """generate(model=...) with a non-default model completes and saves an MP4."""
        other = next(m for m in MODELS if m != default_model())
        paths = await api.generate("x", out=tmp_path, model=other, **_required_values(other))
        assert b"ftyp" == paths[0].read_bytes()[4:8]


class TestJournalMigration:
    def test_an_older_journal_gains_the_model_column(self, tmp_path: Path) -> None:
        """A journal written before the model column is opened as is: the column is added,
        its old rows read model None, and new rows record their model."""
        path = tmp_path / "old.sqlite3"
        with sqlite3.connect(path) as conn:
            conn.executescript(
                "CREATE TABLE jobs (request_id TEXT PRIMARY KEY, base_url TEXT NOT NULL, "
                "prompt TEXT NOT NULL DEFAULT '', params TEXT NOT NULL DEFAULT '{}', "
                "state TEXT NOT NULL, queue_position INTEGER, submitted_at REAL NOT NULL, "
                "started_at REAL, finished_at REAL, processing_seconds REAL, video_url TEXT, "
                "target_path TEXT, output_path TEXT, error TEXT, created_at REAL NOT NULL, "
                "updated_at REAL NOT NULL);"
                "INSERT INTO jobs (request_id, base_url, state, submitted_at, created_at, "
                "updated_at) VALUES ('old-job', 'https://h', 'completed', 1, 1, 1);"
            )
        journal = Journal(path)
        try:
            old = journal.get("old-job")
            assert old is not None and old.model is None
            journal.record_submission(
                "new-job", base_url="https://h", prompt="p", params={}, model=MODELS[-1]
            )
            new = journal.get("new-job")
            assert new is not None and MODELS[-1] == new.model
        finally:
            journal.close()
        reopened = Journal(path)
        try:
            assert [None, MODELS[-1]] == [r.model for r in reopened.records()]
        finally:
            reopened.close()
