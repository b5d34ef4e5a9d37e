"""Outputs follow the spec: every output file, in spec order, downloaded and named by one rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sora2 import DownloadError, NoOutputError, OutputFile
from sora2._download import file_suffix, target_paths, url_suffix
from sora2._journal import Journal
from sora2._spec import resolve, spec_document
from sora2._types import FILE_KIND, kind_of, output_fields, output_files, output_kinds
from sora2.emulator import Emulator, create_app

from .helpers import TOKEN, Factory, FakeClock, Script, json_response, submit_body

pytestmark = pytest.mark.anyio

CDN = "https://cdn.runcomfy.net/outputs/req-1/"


def _spec_output() -> dict[str, Any]:
    result = resolve(spec_document()["components"]["schemas"]["RequestResult"])
    schema: dict[str, Any] = resolve(result["properties"]["output"])
    return schema


def _is_list(name: str) -> bool:
    return bool(resolve(_spec_output()["properties"][name]).get("type") == "array")


def _value(name: str, urls: list[str]) -> Any:
    return urls if _is_list(name) else urls[0]


def _url(name: str, index: int = 1) -> str:
    kind = dict(output_fields())[name]
    return f"{CDN}{name}-{index}{file_suffix('https://x/none', kind)}"


def _every_field_output() -> dict[str, Any]:
    """Every documented field filled, in reverse spec order, to show order comes from the spec."""
    names = [name for name, _ in output_fields()]
    return {name: _value(name, [_url(name, 1), _url(name, 2)]) for name in reversed(names)}


class TestOutputFiles:
    def test_documented_fields_come_first_in_spec_order(self) -> None:
        """Files follow the spec's order of output fields, whatever order the answer has."""
        files = output_files(_every_field_output())
        spec_order = [name for name, _ in output_fields()]
        seen = list(dict.fromkeys(f.field for f in files))
        assert spec_order == seen

    def test_every_url_of_every_field_is_kept(self) -> None:
        """A list field yields each of its URLs; nothing is dropped."""
        outputs = _every_field_output()
        expected = sum(len(v) if isinstance(v, list) else 1 for v in outputs.values())
        assert expected == len(output_files(outputs))

    def test_kind_is_the_spec_x_output_kind(self) -> None:
        """Each documented field's files carry the field's x-output-kind from the spec (a field
        without one: the kind output_fields() gives it)."""
        declared = {
            name: resolve(prop).get("x-output-kind")
            for name, prop in _spec_output()["properties"].items()
        }
        kinds = dict(output_fields())
        for item in output_files(_every_field_output()):
            assert (declared[item.field] or kinds[item.field]) == item.kind

    def test_identical_urls_are_listed_once(self) -> None:
        """The same URL under a single and a list field is one file, from the first field."""
        single = next(n for n, _ in output_fields() if not _is_list(n))
        plural = next(
            n for n, k in output_fields() if _is_list(n) and k == dict(output_fields())[single]
        )
        shared, other = _url(single), _url(plural, 2)
        files = output_files({plural: [shared, other], single: shared})
        assert [shared, other] == [f.url for f in files]
        assert single == files[0].field

    def test_an_undocumented_url_field_comes_after_the_documented_ones(self) -> None:
        """A field the spec does not know yet still yields its files, after the documented."""
        first = output_fields()[0][0]
        outputs = {"zz_new_output": "https://cdn.example/new.bin", first: _url(first)}
        files = output_files(outputs)
        assert [first, "zz_new_output"] == [f.field for f in files]
        assert FILE_KIND == files[-1].kind

    def test_a_new_field_kind_is_guessed_from_its_name_then_its_url(self) -> None:
        """A kind the spec uses is read from a new field's name, else from its URL's type."""
        for kind in output_kinds():
            assert kind == kind_of(f"preview_{kind}s", "https://cdn.example/file")
        assert FILE_KIND == kind_of("preview", "https://cdn.example/file")

    def test_values_that_are_not_urls_are_not_files(self) -> None:
        """Numbers, relative paths, empty lists and mixed lists are not output files."""
        outputs = {"seed": 3, "note": "done", "path": "/tmp/x", "none": [], "mixed": [CDN + "a", 1]}
        assert () == output_files(outputs)


class TestNaming:
    def test_one_file_goes_to_out_exactly(self, tmp_path: Path) -> None:
        """One file: ``out`` itself, whatever its extension."""
        item = OutputFile(url=_url(output_fields()[0][0]), kind="x", field="f")
        assert [tmp_path / "a.mp4"] == target_paths(tmp_path / "a.mp4", [item], "r")

    def test_several_files_get_numbered_stems(self, tmp_path: Path) -> None:
        """Several files beside a file path: STEM-1.EXT, STEM-2.EXT, each its own extension."""
        files = output_files(_every_field_output())
        paths = target_paths(tmp_path / "clip.mp4", files, "r")
        assert [
            tmp_path / f"clip-{i}{file_suffix(f.url, f.kind)}" for i, f in enumerate(files, 1)
        ] == paths

    def test_several_files_go_into_a_directory(self, tmp_path: Path) -> None:
        """Several files and an existing directory, or a trailing separator: inside it."""
        files = output_files(_every_field_output())
        for out in (tmp_path, f"{tmp_path / 'new'}/"):
            paths = target_paths(out, files, "req-1")
            assert {Path(out)} == {p.parent for p in paths}
            assert [f"req-1-{i}" for i in range(1, len(files) + 1)] == [p.stem for p in paths]


def _emulator(clock: FakeClock, outputs: list[str]) -> Emulator:
    return create_app(token=TOKEN, clock=clock.monotonic, outputs=outputs)


SHAPES = [[name] for name, _ in output_fields()] + [[name for name, _ in output_fields()]]


class TestThroughTheEmulator:
    @pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "+".join(s))
    async def test_generate_saves_every_file_of_each_shape(
        self, make_api: Factory, clock: FakeClock, tmp_path: Path, shape: list[str]
    ) -> None:
        """generate() returns a path per output file, each a real MP4 for a video and a PNG
        for anything else (an image, or the emulator's bytes for a field of no kind)."""
        api = make_api(_emulator(clock, shape))
        paths = await api.generate("shapes", out=tmp_path / "out.mp4")
        expected = sum(2 if _is_list(name) else 1 for name in shape)
        assert expected == len(paths)
        magic = {"image": b"\x89PNG", "video": b"ftyp"}
        result = await api.result(Journal(make_api.journal_path).records()[-1].request_id)
        for item, path in zip(result.files, paths, strict=True):
            data = path.read_bytes()
            assert magic.get(item.kind, magic["image"]) in data[:12]

    async def test_result_lists_files_and_first_video(
        self, make_api: Factory, clock: FakeClock
    ) -> None:
        """JobResult.files lists every file; video_url is the first video among them."""
        api = make_api(_emulator(clock, [name for name, _ in output_fields()]))
        job = await api.submit("all")
        clock.advance(1000)
        result = await api.result(job.request_id)
        assert [name for name, _ in output_fields()] == list(
            dict.fromkeys(f.field for f in result.files)
        )
        videos = [f.url for f in result.files if f.kind == "video"]
        assert (videos[0] if videos else None) == result.video_url


class TestNoOutput:
    def _script(self) -> Script:
        done = {"request_id": "req-1", "status": "completed", "output": {}}
        return (
            Script()
            .on("submit", json_response(200, submit_body()))
            .on("status", json_response(200, {"request_id": "req-1", "status": "completed"}))
            .on("result", json_response(200, done))
        )

    async def test_generate_raises_no_output_and_stays_resumable(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """A completed job without files raises NoOutputError; its journal row stays unfinished."""
        api = make_api(handler=self._script())
        with pytest.raises(NoOutputError) as caught:
            await api.generate("nothing", out=tmp_path / "x.mp4")
        assert "req-1" == caught.value.request_id
        assert "without any output file" in str(caught.value)
        record = Journal(make_api.journal_path).get("req-1")
        assert record is not None and record.is_unfinished and record.output_path is None

    async def test_download_of_an_empty_result_raises(
        self, make_api: Factory, tmp_path: Path
    ) -> None:
        """download() of a completed result with no file is NoOutputError, nothing written."""
        api = make_api(handler=self._script())
        with pytest.raises(NoOutputError):
            await api.download("req-1", tmp_path / "x.mp4")
        assert [] == list(tmp_path.glob("x*"))


@pytest.mark.parametrize("name", [n for n, _ in output_fields() if not _is_list(n)])
async def test_each_kind_is_accepted_as_its_own_media_type(
    make_api: Factory, tmp_path: Path, name: str
) -> None:
    """A file is accepted as its kind's media type (image/*, video/*), and refused as another;
    a file of no kind is accepted as any type but an HTML page."""
    kind = dict(output_fields())[name]
    accepted, refused = (
        ("application/x-t", "text/html") if kind == FILE_KIND else (f"{kind}/x-t", "text/plain")
    )
    url = _url(name)
    done = {"request_id": "req-1", "status": "completed", "output": {name: url}}
    script = Script().on("result", json_response(200, done))
    script.files[url] = httpx.Response(200, headers={"Content-Type": accepted}, content=b"ok")
    api = make_api(handler=script)
    (path,) = await api.download("req-1", tmp_path / "x")
    assert b"ok" == path.read_bytes()
    script.files[url] = httpx.Response(200, headers={"Content-Type": refused}, content=b"no")
    with pytest.raises(DownloadError, match="content type"):
        await api.download("req-1", tmp_path / "y")


def test_a_documented_field_without_x_output_kind_gets_the_kind_its_words_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A documented field lacking x-output-kind takes a kind from its name, then description."""
    import sora2._types as outputs

    documented = outputs._documented()
    kind = sorted(output_kinds())[0]
    extra = (("clip_a", None, f"several {kind}s"), (f"{kind}_b", None, ""), ("c", None, "none"))
    monkeypatch.setattr(outputs, "_documented", lambda: documented + extra)
    outputs.output_fields.cache_clear()
    try:
        assert [kind, kind, FILE_KIND] == [k for _, k in outputs.output_fields()[-3:]]
    finally:
        monkeypatch.undo()
        outputs.output_fields.cache_clear()


class TestFieldsOfNoKind:
    @pytest.fixture
    def kindless(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
        """One more documented output field with no x-output-kind and no kind in its words, as
        a field synced from upstream arrives; its name."""
        import sora2._types as outputs

        documented = outputs._documented()
        name = "zz_preview"
        while name in dict(output_fields()):
            name += "_"
        extra = ((name, None, "A preview of the result."),)
        monkeypatch.setattr(outputs, "_documented", lambda: documented + extra)
        outputs.output_fields.cache_clear()
        yield name
        monkeypatch.undo()
        outputs.output_fields.cache_clear()

    async def test_the_emulator_serves_it_and_the_client_saves_it(
        self, make_api: Factory, clock: FakeClock, tmp_path: Path, kindless: str
    ) -> None:
        """A documented output field with no x-output-kind is served by the emulator and
        downloaded by the client, named by its URL's extension."""
        first = output_fields()[0][0]
        api = make_api(_emulator(clock, [first, kindless]))
        paths = await api.generate("with a preview", out=f"{tmp_path}/out/")
        result = await api.result(Journal(make_api.journal_path).records()[-1].request_id)
        [extra] = [f for f in result.files if f.field == kindless]
        assert FILE_KIND == extra.kind
        saved = paths[[f.field for f in result.files].index(kindless)]
        assert url_suffix(extra.url) == saved.suffix
        assert saved.stat().st_size > 0

    @pytest.mark.parametrize(
        ("content_type", "suffix"), [("image/jpeg", ".jpg"), ("application/pdf", ".pdf")]
    )
    async def test_a_url_without_extension_is_named_by_content_type(
        self, make_api: Factory, tmp_path: Path, content_type: str, suffix: str
    ) -> None:
        """A file whose URL has no extension takes its content type's extension when the
        name is made up (a directory); a name the caller gave is kept as is."""
        url = CDN + "preview"
        done = {"request_id": "req-1", "status": "completed", "output": {"zz_new": url}}
        script = Script().on("result", json_response(200, done))
        script.files[url] = httpx.Response(
            200, headers={"Content-Type": content_type}, content=b"x"
        )
        api = make_api(handler=script)
        (path,) = await api.download("req-1", tmp_path)
        assert tmp_path / f"req-1{suffix}" == path
        (kept,) = await api.download("req-1", tmp_path / "mine.dat")
        assert tmp_path / "mine.dat" == kept
