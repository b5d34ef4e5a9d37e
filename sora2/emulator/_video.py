"""The emulator's output: a real, playable MP4 (H.264 + AAC) at the requested size and length.

Frames are drawn with numpy (a size label, a seconds counter, a moving block and a progress
bar) and encoded with PyAV at a low frame rate with x264's fastest preset. The bytes depend
only on (width, height, seconds), so they are cached per key in a bounded LRU, and encoded
once even when many requests ask for the same key at the same time. PyAV and numpy are
imported on first encode, so importing the emulator stays cheap.

Sizes are parsed generically as ``WxH``. 4:2:0 chroma needs even dimensions, so an odd width
or height is encoded as 4:4:4 (still H.264, at exactly the requested size).
"""

from __future__ import annotations

import functools
import io
import re
import threading
from collections import OrderedDict
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ._constants import AUDIO_SAMPLE_RATE, VIDEO_CACHE_SIZE, VIDEO_FPS

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = [
    "SHARED_VIDEO_CACHE",
    "VideoCache",
    "encode_mp4",
    "encode_png",
    "parse_size",
    "require_video_stack",
]

_SIZE = re.compile(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*")
_MAX_SIDE = 8192

# A 3x5 pixel font, row by row, for the label drawn on every frame.
_GLYPHS = {
    "0": "111101101101111",
    "1": "010110010010111",
    "2": "111001111100111",
    "3": "111001111001111",
    "4": "101101111001001",
    "5": "111100111001111",
    "6": "111100111101111",
    "7": "111001001001001",
    "8": "111101111101111",
    "9": "111101111001111",
    "x": "000101010101000",
    "s": "000011110011110",
    "/": "001001010100100",
    " ": "000000000000000",
}

_BACKGROUND = (18, 24, 48)
_FOREGROUND = (236, 236, 236)
_ACCENT = (255, 176, 32)
_TONE_HZ = 440.0
_BEEP_HZ = 880.0
_BEEP_SECONDS = 0.08
_VOLUME = 0.2


def parse_size(size: str) -> tuple[int, int]:
    """``"WxH"`` as (width, height); raises ValueError for anything else."""
    found = _SIZE.fullmatch(size)
    if found is None:
        raise ValueError(f"not a WxH size: {size!r}")
    width, height = int(found.group(1)), int(found.group(2))
    if not (0 < width <= _MAX_SIDE and 0 < height <= _MAX_SIDE):
        raise ValueError(f"size out of range: {size!r}")
    return width, height


def require_video_stack() -> None:
    """Fail at construction, not at the first download, when PyAV or numpy is missing."""
    import importlib.util

    for name in ("av", "numpy"):
        if importlib.util.find_spec(name) is None:
            from .._extras import missing_extra

            raise missing_extra("the emulator", "emulator", name)


def _draw_text(
    frame: npt.NDArray[np.uint8], text: str, x: int, y: int, scale: int, color: tuple[int, ...]
) -> None:
    height, width = frame.shape[:2]
    for index, char in enumerate(text):
        bits = _GLYPHS.get(char, _GLYPHS[" "])
        left = x + index * 4 * scale
        for bit, on in enumerate(bits):
            if on != "1":
                continue
            top = y + (bit // 3) * scale
            col = left + (bit % 3) * scale
            if top < height and col < width:
                frame[top : min(top + scale, height), col : min(col + scale, width)] = color


def _frames(width: int, height: int, seconds: int, fps: int) -> Any:
    import numpy as np

    base = np.empty((height, width, 3), dtype=np.uint8)
    base[:] = _BACKGROUND
    scale = max(1, min(width, height) // 120)
    margin = 2 * scale
    _draw_text(base, f"{width}x{height}", margin, margin, scale, _FOREGROUND)
    bar = max(1, height // 40)
    block = max(1, min(width, height) // 8)
    total = seconds * fps
    for second in range(1, seconds):
        base[height - 2 * bar : height, (width * second) // seconds, :] = _FOREGROUND
    for index in range(total):
        frame = base.copy()
        second = index // fps
        _draw_text(frame, f"{second + 1}s/{seconds}s", margin, margin + 7 * scale, scale, _ACCENT)
        phase = index / max(1, total - 1)
        swing = phase * 2 if phase <= 0.5 else 2 - phase * 2
        left = int((width - block) * swing)
        top = (height - block) // 2
        frame[top : top + block, left : left + block] = _ACCENT
        frame[height - bar : height, : max(1, (width * (index + 1)) // total)] = _ACCENT
        yield frame


def _audio(seconds: int, sample_rate: int) -> Any:
    import numpy as np

    count = seconds * sample_rate
    t = np.arange(count, dtype=np.float64) / sample_rate
    beep = (t % 1.0) < _BEEP_SECONDS
    tone = np.where(beep, np.sin(2 * np.pi * _BEEP_HZ * t), np.sin(2 * np.pi * _TONE_HZ * t))
    return (tone * _VOLUME).astype(np.float32)


def encode_mp4(
    width: int,
    height: int,
    seconds: int,
    *,
    fps: int = VIDEO_FPS,
    sample_rate: int = AUDIO_SAMPLE_RATE,
) -> bytes:
    """An MP4 of exactly ``width`` x ``height`` and ``seconds``: H.264 video, AAC mono audio."""
    import av

    if width < 1 or height < 1 or seconds < 1:
        raise ValueError("width, height and seconds must be positive")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = width
        video.height = height
        video.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.options = {"preset": "ultrafast", "crf": "30"}
        audio = container.add_stream("aac", rate=sample_rate)
        audio.layout = "mono"
        for index, pixels in enumerate(_frames(width, height, seconds, fps)):
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        samples = _audio(seconds, sample_rate)
        step = audio.codec_context.frame_size or 1024
        for start in range(0, len(samples), step):
            chunk = samples[start : start + step].reshape(1, -1)
            sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            sound.sample_rate = sample_rate
            sound.pts = start
            container.mux(audio.encode(sound))
        container.mux(audio.encode(None))
    return buffer.getvalue()


def _still(width: int, height: int) -> Any:
    """One picture: the background, the size label and the accent block, centred."""
    import numpy as np

    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = _BACKGROUND
    scale = max(1, min(width, height) // 120)
    _draw_text(pixels, f"{width}x{height}", 2 * scale, 2 * scale, scale, _FOREGROUND)
    block = max(1, min(width, height) // 8)
    top, left = (height - block) // 2, (width - block) // 2
    pixels[top : top + block, left : left + block] = _ACCENT
    return pixels


@functools.lru_cache(maxsize=VIDEO_CACHE_SIZE)
def encode_png(width: int, height: int) -> bytes:
    """A PNG of exactly ``width`` x ``height`` (RGB), encoded with PyAV's png codec; cached."""
    import av

    if width < 1 or height < 1:
        raise ValueError("width and height must be positive")
    codec = av.CodecContext.create("png", "w")
    codec.width = width
    codec.height = height
    codec.pix_fmt = "rgb24"
    frame = av.VideoFrame.from_ndarray(_still(width, height), format="rgb24")
    packets = [*codec.encode(frame), *codec.encode(None)]
    return b"".join(bytes(packet) for packet in packets)


class VideoCache:
    """Encoded clips per (width, height, seconds): bounded LRU, one encode per key, thread-safe."""

    def __init__(self, maxsize: int = VIDEO_CACHE_SIZE) -> None:
        self._maxsize = max(1, maxsize)
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._pending: dict[tuple[int, int, int], Future[bytes]] = {}
        self.encodes = 0
        """How many clips were encoded (a cache hit or a joined encode does not count)."""

    def __len__(self) -> int:
        return len(self._items)

    def get(self, width: int, height: int, seconds: int) -> bytes:
        """The clip's bytes; blocks while it is encoded, here or in another thread."""
        key = (width, height, seconds)
        with self._lock:
            data = self._items.get(key)
            if data is not None:
                self._items.move_to_end(key)
                return data
            pending = self._pending.get(key)
            if pending is None:
                future: Future[bytes] = Future()
                self._pending[key] = future
        if pending is not None:
            return pending.result()
        try:
            data = encode_mp4(width, height, seconds)
        except BaseException as exc:
            with self._lock:
                del self._pending[key]
            future.set_exception(exc)
            raise
        with self._lock:
            self._items[key] = data
            while len(self._items) > self._maxsize:
                self._items.popitem(last=False)
            del self._pending[key]
            self.encodes += 1
        future.set_result(data)
        return data

    async def aget(self, width: int, height: int, seconds: int) -> bytes:
        """``get`` in a worker thread, so encoding never blocks the event loop."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.get, width, height, seconds)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


SHARED_VIDEO_CACHE = VideoCache()
"""The cache every emulator uses unless given its own: clips depend only on their key."""
