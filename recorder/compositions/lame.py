"""MP3 encoding with the system's LAME (Debian's libmp3lame0), called through ctypes.

The libmp3lame inside PyAV's wheel is built slower: measured on 20 s of stereo 48 kHz at 128 kb/s, PyAV's took
0.74 s and Debian's 0.22 s (loaded in its place), as fast as the ffmpeg command line. So an MP3 composition uses
the system's library when there is one (`SystemLame.available()`), and PyAV's otherwise. The settings are those
FFmpeg's libmp3lame wrapper gives: constant bit rate, joint stereo, LAME's default quality, the bit reservoir
on. The file gets LAME's Xing/LAME tag frame in front, written when the encoding ends, so that decoders skip the
encoder's delay as they do in a file FFmpeg wrote. ctypes releases the GIL during each call, so the encoding
runs beside the thread that mixes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

JOINT_STEREO = 1


@functools.cache
def _library() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("mp3lame")
    if name is None:
        return None
    try:
        lib = ctypes.CDLL(name)
        lib.lame_init.restype = ctypes.c_void_p
        for setter in ("in_samplerate", "out_samplerate", "num_channels", "brate", "mode", "bWriteVbrTag"):
            getattr(lib, f"lame_set_{setter}").argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.lame_init_params.argtypes = [ctypes.c_void_p]
        float_p = ctypes.POINTER(ctypes.c_float)
        lib.lame_encode_buffer_ieee_float.argtypes = [
            ctypes.c_void_p, float_p, float_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]  # fmt: skip
        lib.lame_encode_flush.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        lib.lame_get_lametag_frame.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.lame_get_lametag_frame.restype = ctypes.c_size_t
        lib.lame_close.argtypes = [ctypes.c_void_p]
    except (OSError, AttributeError):  # not LAME 3.99 or newer
        return None
    return lib


class SystemLame:
    """Stereo float samples in, MP3 frames written to `out`; `close()` writes the tag frame at the start."""

    @staticmethod
    def available() -> bool:
        return _library() is not None

    def __init__(self, out: BinaryIO, rate: int, bit_rate: int) -> None:
        lib = _library()
        if lib is None:
            raise RuntimeError("no libmp3lame on this system")
        self._lib, self._out, self._start = lib, out, out.tell()
        self._flags = lib.lame_init()
        if not self._flags:
            raise RuntimeError("lame_init failed")
        for setter, value in (
            ("in_samplerate", rate),
            ("out_samplerate", rate),
            ("num_channels", 2),
            ("brate", bit_rate // 1000),
            ("mode", JOINT_STEREO),
            ("bWriteVbrTag", 1),  # the Xing/LAME frame that tells decoders the delay and padding
        ):
            getattr(lib, f"lame_set_{setter}")(self._flags, value)
        if lib.lame_init_params(self._flags) < 0:
            lib.lame_close(self._flags)
            raise RuntimeError("lame_init_params refused the settings")
        self._buffer = ctypes.create_string_buffer(7200 + 2 * 48000)

    def encode(self, block: NDArray[np.float32] | None) -> None:
        """Encode planar stereo samples (2, n), float in -1..1; None flushes."""
        lib, buffer = self._lib, self._buffer
        if block is None:
            size = lib.lame_encode_flush(self._flags, buffer, len(buffer))
        else:
            if block.shape[1] * 5 // 4 + 7200 > len(buffer):  # LAME's worst case for the block
                self._buffer = buffer = ctypes.create_string_buffer(block.shape[1] * 5 // 4 + 7200)
            left = np.ascontiguousarray(block[0], np.float32)
            right = np.ascontiguousarray(block[1], np.float32)
            as_float = ctypes.POINTER(ctypes.c_float)
            size = lib.lame_encode_buffer_ieee_float(
                self._flags,
                left.ctypes.data_as(as_float),
                right.ctypes.data_as(as_float),
                block.shape[1],
                buffer,
                len(buffer),
            )
        if size < 0:
            raise RuntimeError(f"LAME failed to encode ({size})")
        self._out.write(buffer.raw[:size])

    def close(self) -> None:
        """Write the tag frame over its placeholder at the start, and free the encoder."""
        try:
            size = self._lib.lame_get_lametag_frame(self._flags, self._buffer, len(self._buffer))
            if 0 < size <= len(self._buffer):
                end = self._out.tell()
                self._out.seek(self._start)
                self._out.write(self._buffer.raw[:size])
                self._out.seek(end)
        finally:
            self._lib.lame_close(self._flags)
