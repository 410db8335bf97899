"""The recording-grade receive path, fed with RTP packet sequences of real encoded frames: loss, reordering,
duplicates, retransmission, wrap-around. Every frame it gives out must decode; nothing broken is written."""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from recorder.media.assembler import AudioReorder, Frame, VideoAssembler
from recorder.media.passthrough import PassthroughWriter, _h264_nals, is_keyframe
from tests.encoded import decode, encode_video

Packet = tuple[int, int, bool, bytes]  # sequence number, RTP timestamp, marker, payload
FIRST_SEQ = 65_400  # wraps after a few frames
FIRST_TS = 4_294_000_000  # wraps after a few seconds
FPS = 30


def packetize(codec: str, frames: list[bytes]) -> tuple[list[Packet], list[int]]:
    """RTP packets as aiortc's own senders make them; and the index of each frame's first packet."""
    packets: list[Packet] = []
    firsts: list[int] = []
    for i, frame in enumerate(frames):
        if codec == "vp8":
            payloads = Vp8Encoder._packetize(frame, i % 32768)
        else:
            payloads = H264Encoder._packetize(H264Encoder._split_bitstream(frame))
        firsts.append(len(packets))
        for payload in payloads:
            packets.append(((FIRST_SEQ + len(packets)) & 0xFFFF, (FIRST_TS + 3000 * i) % (1 << 32), False, payload))
        seq, ts, _, payload = packets[-1]
        packets[-1] = (seq, ts, True, payload)
    return packets, firsts


def arrival(packet: Packet, n: int, rate: int = 90000) -> float:
    """When the n-th packet arrives: its frame's time on the sender's clock, plus half a millisecond a packet."""
    return ((packet[1] - FIRST_TS) % (1 << 32)) / rate + (n % 1000) * 0.0005


def feed(assembler: VideoAssembler | AudioReorder, packets: list[Packet], rate: int = 90000) -> list[Frame]:
    out: list[Frame] = []
    for n, (seq, ts, marker, payload) in enumerate(packets):
        out += assembler.add(seq, ts, marker, payload, arrival(packets[n], n, rate))
    return out


def normal(codec: str, data: bytes) -> bytes:
    """A frame as written: H.264 access units with four-byte start codes (as the depayloader makes them)."""
    return b"".join(nal for _, nal in _h264_nals(data)) if codec == "h264" else data


def indices(codec: str, frames: list[bytes], out: list[Frame]) -> list[int]:
    """Which of the sent frames came out (-1: a frame that was never sent)."""
    sent = {normal(codec, f): i for i, f in enumerate(frames)}
    return [sent.get(normal(codec, f.data), -1) for f in out]


def write_and_decode(tmp_path: Path, codec: str, frames: list[Frame]) -> int:
    """Frames written as the recorder writes them; the file decodes with errors made fatal."""
    writer = PassthroughWriter(tmp_path / "track", codec, 90000)
    for frame in frames:
        writer.write(frame.data, frame.timestamp, frame.keyframe)
    result = writer.close()
    assert result.path is not None
    return decode(result.path)[0]


@pytest.fixture(scope="module", params=[("libvpx", "vp8"), ("libx264", "h264")], ids=["vp8", "h264"])
def stream(request: pytest.FixtureRequest) -> tuple[str, list[bytes], list[Packet], list[int]]:
    encoder, codec = request.param
    frames = encode_video(encoder, 120, width=640, height=480, noise=True)  # keyframes at 0, 30, 60, 90
    packets, firsts = packetize(codec, frames)
    return codec, frames, packets, firsts


def test_a_clean_stream_comes_out_whole_and_in_order(stream: tuple[str, list[bytes], list[Packet], list[int]]) -> None:
    codec, frames, packets, _ = stream
    assert len(packets) > len(frames) + 10, "keyframes span several packets"
    assembler = VideoAssembler(codec)
    out = feed(assembler, packets)
    assert indices(codec, frames, out) == list(range(120))
    assert [f.keyframe for f in out] == [i % 30 == 0 for i in range(120)]
    assert assembler.stats.lost == assembler.stats.keyframe_waits == assembler.stats.frames_dropped == 0


def test_reordering_duplicates_and_retransmissions_are_repaired(
    stream: tuple[str, list[bytes], list[Packet], list[int]],
) -> None:
    codec, frames, packets, _ = stream
    rng = random.Random(7)
    shuffled: list[Packet] = []
    for at in range(0, len(packets), 6):  # reordered within windows of six packets
        window = packets[at : at + 6]
        rng.shuffle(window)
        shuffled += window
    shuffled[40:40] = shuffled[30:33]  # duplicates
    late = shuffled.pop(100)
    shuffled.insert(105, late)  # a retransmission five packets later (within the deadline)
    assembler = VideoAssembler(codec)
    out = feed(assembler, shuffled)
    assert indices(codec, frames, out) == list(range(120))
    assert assembler.stats.repaired > 0 and assembler.stats.duplicates == 3
    assert assembler.stats.lost == assembler.stats.keyframe_waits == 0


def test_an_unrepaired_hole_skips_to_the_next_keyframe_and_asks_for_it(
    stream: tuple[str, list[bytes], list[Packet], list[int]], tmp_path: Path
) -> None:
    codec, frames, packets, firsts = stream
    assembler = VideoAssembler(codec)
    out: list[Frame] = []
    lost = firsts[40] + 1 if firsts[41] - firsts[40] > 1 else firsts[40]  # inside frame 40
    requests: list[float] = []
    lost_at = arrival(packets[lost], lost)
    asked_again = False
    for n, (seq, ts, marker, payload) in enumerate(packets):
        now = arrival(packets[n], n)
        if n != lost:
            out += assembler.add(seq, ts, marker, payload, now)
        if assembler.keyframe_due(now):
            requests.append(now)
        if n == lost + 1:
            assert assembler.nacks(now) == [], "the receiver NACKs a new hole itself"
        if not asked_again and now - lost_at >= 0.07:
            assert assembler.nacks(now) == [packets[lost][0]], "asked for again"
            asked_again = True
    came = indices(codec, frames, out)
    assert came == [*range(40), *range(60, 120)], "frames 40-59 wait for keyframe 60; nothing broken is written"
    assert requests[0] == 0, "the first keyframe is asked for at once"
    skipped = next(r for r in requests if r > lost_at)
    assert skipped - lost_at <= 0.35 + 2 / FPS, "asked for at once when the hole is given up"
    assert [r for r in requests if r > lost_at][1:] == [], "keyframe 60 came: no more requests"
    stats = assembler.stats
    assert (stats.lost, stats.keyframe_waits) == (1, 1) and stats.frames_dropped >= 1, stats
    assert len(stats.gaps) == 1
    assert write_and_decode(tmp_path, codec, out) == 100


def test_a_keyframe_whose_first_packet_is_lost_is_never_written(
    stream: tuple[str, list[bytes], list[Packet], list[int]], tmp_path: Path
) -> None:
    """The fragment after a lost first packet is no keyframe: the track waits for the next whole one."""
    codec, frames, packets, firsts = stream
    assembler = VideoAssembler(codec)
    skipped = firsts[30] if codec == "vp8" else firsts[30] + 1  # H.264: the IDR's first fragment (after SPS/PPS)
    out = feed(assembler, packets[: firsts[0]] + packets[firsts[0] + 1 : skipped] + packets[skipped + 1 :])
    came = indices(codec, frames, out)
    assert came == list(range(60, 120)), came[:5]
    assert [f.keyframe for f in out] == [i % 30 == 0 for i in came]
    assert write_and_decode(tmp_path, codec, out) == 60


def test_a_restarted_sender_starts_again_at_its_keyframe(
    stream: tuple[str, list[bytes], list[Packet], list[int]],
) -> None:
    codec, frames, packets, firsts = stream
    assembler = VideoAssembler(codec)
    restarted = [((seq + 20_000) & 0xFFFF, ts, marker, payload) for seq, ts, marker, payload in packets[firsts[60] :]]
    out = feed(assembler, packets[: firsts[50]] + restarted)
    assert indices(codec, frames, out) == [*range(50), *range(60, 120)]


def test_nacks_stop_at_the_deadline() -> None:
    assembler = VideoAssembler("vp8", deadline=0.3, nack_interval=0.05)
    payloads = Vp8Encoder._packetize(b"\x10\x02\x00" + bytes(3000), 1)  # one inter frame in three packets
    assembler.add(1, 0, False, payloads[0], 0.0)
    assembler.add(3, 0, True, payloads[2], 0.01)
    assert assembler.nacks(0.02) == []
    assert assembler.nacks(0.07) == [2]
    assert assembler.nacks(0.08) == []
    assert assembler.nacks(0.2) == [2]
    assert assembler.nacks(0.31) == []


def test_vp8_keyframes_are_recognised_by_their_start_code() -> None:
    keyframe = encode_video("libvpx", 1)[0]
    assert is_keyframe("vp8", keyframe)
    # the fragment seen in the field: a first byte with the keyframe bit clear, but no start code after it
    assert not is_keyframe("vp8", bytes.fromhex("266bb4") + bytes(200))
    assert not is_keyframe("vp8", keyframe[:6])


def test_vp9_keyframes_are_recognised_by_their_sync_code() -> None:
    key = bytes([0b10_0_0_0_0_1_0, 0x49, 0x83, 0x42, 0x00])  # marker 2, profile 0, key, show_frame
    assert is_keyframe("vp9", key)
    assert not is_keyframe("vp9", bytes([0b10_0_0_0_1_1_0]) + key[1:])  # frame_type 1: inter
    assert not is_keyframe("vp9", key[:1] + b"\x49\x83\x43" + key[4:])


def test_audio_loses_only_what_was_lost() -> None:
    packets = [(n & 0xFFFF, (FIRST_TS + 960 * n) % (1 << 32), False, bytes([n % 256]) * 40) for n in range(200)]
    kept = [p for n, p in enumerate(packets) if n not in (10, 50, 51)]
    kept[20], kept[21] = kept[21], kept[20]  # reordered
    kept.insert(30, kept[29])  # duplicate
    audio = AudioReorder(window=0.06)
    out = feed(audio, kept, rate=48000)
    assert [f.timestamp for f in out] == [ts for n, (_, ts, _, _) in enumerate(packets) if n not in (10, 50, 51)]
    assert audio.stats.lost == 3 and audio.stats.duplicates == 1 and audio.stats.repaired == 1
    late = AudioReorder(window=0.06)
    out = feed(late, packets[:5] + packets[6:20], rate=48000)
    assert late.add(*packets[5], 1.0) == [], "a packet later than the window is dropped"
    assert len(out) == 19


def test_the_writer_takes_the_assembled_keyframe_flag(tmp_path: Path) -> None:
    frames = encode_video("libvpx", 31)
    writer = PassthroughWriter(tmp_path / "flag", "vp8", 90000)
    assert not writer.write(frames[1], 3000, keyframe=False)
    assert writer.write(frames[0], 6000, keyframe=True)
    result = writer.close()
    assert result.path is not None
    with av.open(str(result.path)) as container:
        assert next(container.demux(video=0)).is_keyframe
