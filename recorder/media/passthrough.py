"""PassthroughWriter: muxes one track's encoded frames into a file without decoding them.

VP8/VP9 and Opus go into WebM, H.264 into fragmented MP4. The container is opened at the first keyframe
(video) or the first frame (audio), so every file starts with a decodable frame. Clusters/fragments are cut
at least every `flush_interval_ms` and flushed, so a killed process leaves a file that plays up to then.

The muxer writes through a `SpoolFile`, which counts what reached the end of the file: the muxer writes a
cluster or fragment whole when it ends, so after each frame the writer knows how many bytes of its file are
whole (`whole_bytes`) and how much media they hold (`whole_media`): what can be shipped while recording.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.container

from recorder.clock import FRAME_INTERVAL

logger = logging.getLogger(__name__)

# Codec (lower-case name from the SDP) -> (FFmpeg codec, container format, file extension)
_FORMATS: dict[str, tuple[str, str, str]] = {
    "vp8": ("vp8", "webm", "webm"),
    "vp9": ("vp9", "webm", "webm"),
    "opus": ("opus", "webm", "webm"),
    "h264": ("h264", "mp4", "mp4"),
}


class UnsupportedCodecError(ValueError):
    """The negotiated codec cannot be written without re-encoding."""


def file_extension(codec: str) -> str:
    try:
        return _FORMATS[codec.lower()][2]
    except KeyError:
        raise UnsupportedCodecError(f"no passthrough container for codec {codec!r}") from None


VP8_START_CODE = b"\x9d\x01\x2a"
VP9_SYNC_CODE = 0x498342


def is_keyframe(codec: str, data: bytes) -> bool:
    """Whether a depayloaded frame is a keyframe, by the codec's own structure: VP8's frame tag and start
    code, VP9's uncompressed header and sync code, an H.264 IDR slice. Audio: every frame."""
    if codec == "vp8":
        return len(data) >= 10 and data[0] & 0x01 == 0 and data[3:6] == VP8_START_CODE
    if codec == "vp9":
        if len(data) < 5:
            return False
        bits = int.from_bytes(data[:5], "big")  # 40 bits, read from the top
        profile = (bits >> 37 & 1) | (bits >> 36 & 1) << 1
        at = 36 - (1 if profile == 3 else 0)  # the bit after the profile (and the reserved bit of profile 3)
        show_existing, frame_type = bits >> (at - 1) & 1, bits >> (at - 2) & 1
        sync = bits >> (at - 4 - 24) & 0xFFFFFF  # after show_frame and error_resilient_mode
        return bits >> 38 == 2 and not show_existing and frame_type == 0 and sync == VP9_SYNC_CODE
    if codec == "h264":
        return 5 in h264_nal_types(data)
    return True


def h264_nal_types(data: bytes) -> list[int]:
    """The NAL unit types of an Annex B access unit (or of the start of one), in order."""
    return [nal_type for nal_type, _ in _h264_nals(data)]


def _h264_nals(data: bytes) -> list[tuple[int, bytes]]:
    """Split an Annex B access unit into (nal_type, nal_with_start_code)."""
    out: list[tuple[int, bytes]] = []
    starts: list[int] = []
    i = data.find(b"\x00\x00\x01")
    while i != -1:
        starts.append(i + 3)
        i = data.find(b"\x00\x00\x01", i + 3)
    for n, start in enumerate(starts):
        end = starts[n + 1] - 3 if n + 1 < len(starts) else len(data)
        nal = data[start:end].rstrip(b"\x00") if n + 1 < len(starts) else data[start:end]
        if nal:
            out.append((nal[0] & 0x1F, b"\x00\x00\x00\x01" + nal))
    return out


# Opus encoders look 312 samples (6.5 ms) ahead: decoders drop that many at the start (the header's pre-skip),
# so a file's decoded sound plays 6.5 ms after the RTP time its packets carry
OPUS_PRE_SKIP = 312


def _opus_head(channels: int, sample_rate: int) -> bytes:
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, OPUS_PRE_SKIP, sample_rate, 0, 0)


def _probe_size(codec: str, data: bytes) -> tuple[int, int]:
    """Width and height of a keyframe: the one frame we ever decode, to fill in the container header."""
    context = av.CodecContext.create(codec, "r")
    assert isinstance(context, av.VideoCodecContext)
    try:
        for frame in [*context.decode(av.Packet(data)), *context.decode(None)]:
            return frame.width, frame.height
    except av.FFmpegError:
        logger.warning("could not read the frame size of a %s keyframe", codec)
    return 640, 480


class SpoolFile:
    """The file a muxer writes through (PyAV calls write, seek and tell): `end` is how far it was written."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w+b", buffering=0)
        self._position = 0
        self.end = 0

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        done = 0
        while done < len(view):  # an unbuffered write may take part of it
            done += self._file.write(view[done:]) or 0
        self._position += done
        if self._position > self.end:
            self.end = self._position
        return done

    def seek(self, offset: int, whence: int = 0) -> int:
        self._position = self._file.seek(offset, whence)
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        self._file.close()

    def __del__(self) -> None:  # a writer dropped without a close (a crash left its file): let the file go quietly
        self._file.close()


_TEMPLATES: dict[tuple[str, str], av.stream.Stream] = {}


def _template(container_format: str, codec: str) -> av.stream.Stream:
    """A stream of `codec` in `container_format` whose parameters a track's stream copies (PyAV's
    add_stream_from_template): made once, in a container in memory that is never written."""
    template = _TEMPLATES.get((container_format, codec))
    if template is None:
        holder = av.open(io.BytesIO(), "w", format=container_format)
        template = holder.add_stream(codec, rate=48000) if codec == "opus" else holder.add_stream(codec)
        _TEMPLATES[container_format, codec] = template  # (the stream keeps its container)
    return template


@dataclass(frozen=True)
class WriterResult:
    path: Path | None  # None when no frame was ever written
    frames: int
    duration: float  # seconds of media written
    error: str | None = None  # the file could not be finished (e.g. the disk is full): it may need a repair


class PassthroughWriter:
    """Writes one track. `write` takes depayloaded frames with their (unwrapped) RTP timestamps."""

    def __init__(
        self, base_path: Path, codec: str, clock_rate: int, *, channels: int = 2, flush_interval_ms: int = 1000
    ) -> None:
        self.codec = codec.lower()
        self.extension = file_extension(self.codec)
        self.path = base_path.with_suffix("." + self.extension)
        self._ff_codec, self._format, _ = _FORMATS[self.codec]
        self._time_base = Fraction(1, clock_rate)
        self._channels = channels
        self._flush_interval_ms = flush_interval_ms
        self._container: av.container.OutputContainer | None = None
        self._file: SpoolFile | None = None
        self._stream: av.stream.Stream | None = None
        self._first_ts: int | None = None
        self._last_ts = 0
        self._prior_ts = 0  # the frame's before the last
        self._last_rtp: int | None = None
        self._wrap = 0
        self.frames = 0
        self.bytes = 0  # media bytes written (the container's own are not counted)
        self.needs_keyframe = True
        self.whole_bytes = 0  # the file's first bytes that hold whole clusters/fragments (and its header)
        self.whole_media = 0.0  # seconds of media (from the file's time 0) those bytes hold at least

    @property
    def is_video(self) -> bool:
        return self.codec != "opus"

    @property
    def first_rtp(self) -> int | None:
        """The RTP timestamp of the file's first frame (its time 0)."""
        return self._first_ts

    @property
    def clock_rate(self) -> int:
        return self._time_base.denominator

    def write(self, data: bytes, rtp_timestamp: int, keyframe: bool | None = None) -> bool:
        """Mux one frame; returns False when it was dropped while waiting for a keyframe. `keyframe`: what the
        caller found already (else it is looked up)."""
        key = not self.is_video or (is_keyframe(self.codec, data) if keyframe is None else keyframe)
        if self.needs_keyframe:
            if not key:
                return False
            self.needs_keyframe = False
        if self._container is None:
            self._open(data)
        ts = self._unwrap(rtp_timestamp)
        if self._first_ts is None:
            self._first_ts = ts
        pts = ts - self._first_ts
        if self.frames and pts <= self._last_ts:
            pts = self._last_ts + 1  # keep timestamps strictly increasing for the muxer
        packet = av.Packet(data)
        packet.stream = self._stream  # type: ignore[assignment]
        packet.time_base = self._time_base
        packet.pts = packet.dts = pts
        packet.is_keyframe = key
        assert self._container is not None and self._file is not None
        # a cluster/fragment written now holds the frames before this one (WebM holds an audio frame back)
        before = self._prior_ts if self._format == "webm" and not self.is_video else self._last_ts
        self._container.mux(packet)
        if self._file.end != self.whole_bytes:
            self.whole_bytes = self._file.end
            if self.frames:
                self.whole_media = float(before * self._time_base)
        self._prior_ts, self._last_ts = self._last_ts, pts
        self.frames += 1
        self.bytes += len(data)
        return True

    def close(self) -> WriterResult:
        duration = float(self._last_ts * self._time_base) if self.frames else 0.0
        if self.frames and self.is_video:
            duration += FRAME_INTERVAL  # the last frame lasts about one frame interval
        if self._container is not None and self._file is not None:
            (container, self._container), file = (self._container, None), self._file
            try:
                container.close()
            except (av.FFmpegError, OSError) as exc:  # the index or the last cluster could not be written
                logger.warning("closing %s failed: %s", self.path, exc)
                return WriterResult(self.path, self.frames, duration, f"closing failed: {exc}")
            finally:
                file.close()
            return WriterResult(self.path, self.frames, duration)
        return WriterResult(None, 0, 0.0)

    def _unwrap(self, rtp_timestamp: int) -> int:
        if self._last_rtp is not None and rtp_timestamp < self._last_rtp and self._last_rtp - rtp_timestamp > 1 << 31:
            self._wrap += 1 << 32
        self._last_rtp = rtp_timestamp
        return rtp_timestamp + self._wrap

    def _open(self, first: bytes) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        options = {"flush_packets": "1"}
        if self._format == "webm":
            options["cluster_time_limit"] = str(self._flush_interval_ms)
        else:
            options["movflags"] = "empty_moov+default_base_moof+frag_keyframe"
            options["frag_duration"] = str(self._flush_interval_ms * 1000)
        file = SpoolFile(self.path)
        try:
            container = av.open(file, "w", format=self._format, options=options)
        except BaseException:
            file.close()
            raise
        # a stream copied from a template is never opened as an encoder (one from add_stream would be: libvpx
        # and libx264 set theirs up at the header, about 8 MiB a video track, for frames we never encode)
        stream = container.add_stream_from_template(_template(self._format, self._ff_codec), opaque=True)
        context = stream.codec_context
        if self.is_video:
            assert isinstance(context, av.VideoCodecContext)
            context.width, context.height = _probe_size(self._ff_codec, first)
            if self.codec == "h264":
                context.extradata = b"".join(nal for kind, nal in _h264_nals(first) if kind in (7, 8))
        else:
            context.extradata = _opus_head(self._channels, 48000)
        stream.time_base = self._time_base
        self._container, self._stream, self._file = container, stream, file
