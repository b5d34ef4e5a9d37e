"""The output video: a real MP4 of exactly the requested size and length, H.264 + AAC."""

from __future__ import annotations

import io
import itertools
import threading
from typing import Any

import av
import httpx
import pytest

from sora2.emulator import (
    Emulator,
    SyncASGITransport,
    VideoCache,
    create_app,
    encode_mp4,
    parse_size,
)
from sora2.emulator._constants import AUDIO_SAMPLE_RATE, VIDEO_FPS

from .helpers import BASE_URL, FakeClock, choices, client_for, path_of, submit

PAIRS = list(itertools.product(choices("size"), choices("seconds")))
AAC_FRAME = 1024 / AUDIO_SAMPLE_RATE


def _probe(data: bytes) -> dict[str, Any]:
    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.duration is not None and video.time_base is not None
        assert audio.duration is not None and audio.time_base is not None
        return {
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "video_codec": video.codec_context.name,
            "audio_codec": audio.codec_context.name,
            "video_seconds": float(video.duration * video.time_base),
            "audio_seconds": float(audio.duration * audio.time_base),
            "frames": sum(1 for _ in container.decode(video=0)),
        }


@pytest.fixture(scope="module")
def videos() -> dict[tuple[str, int], httpx.Response]:
    """Every (size, seconds) of the spec, generated and downloaded once for the module."""
    clock = FakeClock()
    app = create_app(clock=clock, workers=len(PAIRS))
    found = {}
    anonymous = httpx.Client(transport=SyncASGITransport(app), base_url=BASE_URL)
    with client_for(app) as http, anonymous:
        ids = {pair: submit(http, size=pair[0], seconds=pair[1]) for pair in PAIRS}
        clock.advance(1_000)
        for pair, request_id in ids.items():
            url = http.get(path_of("result", request_id)).json()["output"]["video"]
            found[pair] = anonymous.get(url)
    return found


class TestVideo:
    @pytest.mark.parametrize(("size", "seconds"), PAIRS)
    def test_every_size_and_duration_renders_exactly(
        self, videos: dict[tuple[str, int], httpx.Response], size: str, seconds: int
    ) -> None:
        """The MP4 is H.264 at exactly WxH and the requested length, with an AAC track."""
        response = videos[(size, seconds)]
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/mp4"
        probe = _probe(response.content)
        width, height = parse_size(size)
        assert (width, height) == (probe["width"], probe["height"])
        assert (probe["video_codec"], probe["audio_codec"]) == ("h264", "aac")
        assert abs(probe["video_seconds"] - seconds) <= 1 / VIDEO_FPS
        assert abs(probe["audio_seconds"] - seconds) <= AAC_FRAME
        assert seconds * VIDEO_FPS == probe["frames"]

    def test_the_video_is_served_without_the_token(
        self, videos: dict[tuple[str, int], httpx.Response]
    ) -> None:
        """The download request carried no Authorization header and still got the file."""
        response = next(iter(videos.values()))
        assert "authorization" not in response.request.headers
        assert response.status_code == 200

    def test_odd_sizes_render_exactly(self) -> None:
        """An odd width and height still encode, at exactly that size."""
        probe = _probe(encode_mp4(33, 17, 1))
        assert (probe["width"], probe["height"]) == (33, 17)
        assert probe["video_codec"] == "h264"

    def test_a_size_or_duration_outside_the_spec_is_not_served(self, client: httpx.Client) -> None:
        """The video route only renders what the spec allows (no arbitrary encodes)."""
        request_id = submit(client)
        base = f"/emulator/outputs/{request_id}"
        good_size, good_seconds = PAIRS[0]
        assert client.get(f"{base}/99x99/{good_seconds}/video.mp4").status_code == 404
        bad_seconds = max(choices("seconds")) + 1
        assert client.get(f"{base}/{good_size}/{bad_seconds}/video.mp4").status_code == 404
        assert client.get(f"{base}/huge/{good_seconds}/video.mp4").status_code == 404

    def test_ranges_and_head_work_as_on_a_cdn(
        self, emulator: Emulator, videos: dict[tuple[str, int], httpx.Response]
    ) -> None:
        """A byte range gets 206 with Content-Range, an impossible one 416, HEAD no body."""
        response = next(iter(videos.values()))
        url = str(response.url)
        total = len(response.content)
        with client_for(emulator) as http:
            part = http.get(url, headers={"Range": "bytes=10-19"})
            tail = http.get(url, headers={"Range": "bytes=-5"})
            beyond = http.get(url, headers={"Range": f"bytes={total}-"})
            head = http.head(url)
        assert (206, response.content[10:20]) == (part.status_code, part.content)
        assert f"bytes 10-19/{total}" == part.headers["content-range"]
        assert response.content[-5:] == tail.content
        assert beyond.status_code == 416
        assert (200, b"", str(total)) == (
            head.status_code,
            head.content,
            head.headers["content-length"],
        )


class TestCache:
    def test_concurrent_requests_encode_once(self) -> None:
        """Many threads asking for one uncached clip share a single encode."""
        cache = VideoCache(maxsize=2)
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: results.append(cache.get(64, 48, 1))) for _ in range(6)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert cache.encodes == 1
        assert len(set(results)) == 1

    def test_the_cache_is_bounded(self) -> None:
        """Past maxsize the least recently used clip is dropped and re-encoded when asked."""
        cache = VideoCache(maxsize=1)
        cache.get(32, 32, 1)
        cache.get(48, 32, 1)
        assert len(cache) == 1
        cache.get(32, 32, 1)
        assert cache.encodes == 3


class TestParseSize:
    @pytest.mark.parametrize(
        ("text", "expected"), [("640x360", (640, 360)), (" 7 X 5 ", (7, 5)), ("1×2", (1, 2))]
    )
    def test_wxh_is_parsed(self, text: str, expected: tuple[int, int]) -> None:
        """Any WxH parses, whatever the case of the x and the spaces around it."""
        assert expected == parse_size(text)

    @pytest.mark.parametrize("text", ["", "640", "0x10", "axb", "10x10x10", "99999x1"])
    def test_anything_else_is_refused(self, text: str) -> None:
        """A string that is not a sane WxH raises ValueError."""
        with pytest.raises(ValueError):
            parse_size(text)
