"""``DIR/manifest.jsonl``: atomic rewrites, and paid ids that are never dropped."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from sora2._batch._manifest import MANIFEST_NAME, BatchRow, Manifest, ManifestWriter


def _row(key: str, request_id: str | None = None) -> BatchRow:
    return BatchRow(row=1, key=key, name=None, input={"prompt": key}, request_id=request_id)


class TestManifest:
    def test_rewrites_leave_no_temporary_file(self, isolated: Path) -> None:
        """Each change rewrites the file through a temporary file that does not stay behind."""
        manifest = Manifest(isolated)
        first, second = _row("a"), _row("b")
        manifest.replace_rows([first, second])
        manifest.write()
        second.request_id = "req-b"
        manifest.changed(second)
        assert [MANIFEST_NAME] == [p.name for p in isolated.iterdir()]
        assert ["a", "b"] == [row.key for row in Manifest.read(isolated)]
        assert "req-b" == Manifest.read(isolated).get("b").request_id  # type: ignore[union-attr]

    def test_a_paid_row_missing_from_the_input_is_kept(self, isolated: Path) -> None:
        """A row of an earlier run that holds a job id stays when the input no longer has it;
        one that never had a job goes."""
        manifest = Manifest(isolated)
        manifest.replace_rows([_row("paid", "req-1"), _row("never")])
        manifest.write()
        later = Manifest.read(isolated)
        later.replace_rows([_row("new")])
        later.write()
        assert ["new", "paid"] == [row.key for row in Manifest.read(isolated)]

    def test_unknown_fields_are_ignored(self, isolated: Path) -> None:
        """A manifest line with a field this version does not know still reads."""
        (isolated / MANIFEST_NAME).write_text(
            '{"row": 1, "key": "k", "name": null, "input": {}, "future": 1}\n'
        )
        assert ["k"] == [row.key for row in Manifest.read(isolated)]


class TestManifestWriter:
    @pytest.mark.anyio
    async def test_saves_made_together_share_a_write(
        self, isolated: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Twenty rows saved at once cost at most two writes, and once every save has returned
        the file holds every row's id."""
        manifest = Manifest(isolated)
        rows = [_row(f"k{index}") for index in range(20)]
        manifest.replace_rows(rows)
        writes: list[str] = []
        write_text = manifest.write_text

        def counted(text: str) -> None:
            writes.append(text)
            write_text(text)

        monkeypatch.setattr(manifest, "write_text", counted)
        writer = ManifestWriter(manifest)
        async with anyio.create_task_group() as group:
            for index, row in enumerate(rows):
                row.request_id = f"req-{index}"
                group.start_soon(writer.save, row)
        assert 2 >= len(writes)
        assert [f"req-{i}" for i in range(20)] == [
            row.request_id for row in Manifest.read(isolated)
        ]
