"""Hostile and ordinary inputs for the hostile suite, made on the fly: movies
with the ffmpeg CLI, PNG files written chunk by chunk (so a chunk can carry a
decompression bomb or a wrong CRC), raw RGB frames."""
import os
import struct
import zlib

from harness import ffmpeg


def _sine(seconds, rate):
    return ["-f", "lavfi", "-i",
            f"sine=frequency=440:sample_rate={rate}:d={seconds}"]


def ts_with_audio_change(path, first, second, seconds=2):
    """MPEG-TS (MPEG-2 video, MP2 audio) whose audio format changes half way:
    `first` and `second` are (channels, sample_rate). Two TS segments with the
    same PIDs, the second's clock continuing the first's, concatenated byte
    for byte as a broadcast stream that switches programme would be."""
    parts = []
    for i, (channels, rate) in enumerate((first, second)):
        part = f"{path}.{i}.ts"
        ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=96x64:r=10:d={seconds}",
               *_sine(seconds, rate), "-ac", str(channels), "-ar", str(rate),
               "-c:v", "mpeg2video", "-c:a", "mp2",
               "-output_ts_offset", str(i * seconds), "-f", "mpegts", part)
        parts.append(part)
    with open(path, "wb") as out:
        for part in parts:
            with open(part, "rb") as f:
                out.write(f.read())
            os.remove(part)
    return path


def ts_with_aac(path, seconds=2):
    """An ordinary MPEG-TS: H.264 video, AAC audio (ADTS)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s=96x64:r=10:d={seconds}",
           *_sine(seconds, 48000), "-c:v", "libx264", "-preset", "ultrafast",
           "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k",
           "-f", "mpegts", path)
    return path


def large_mp4(path, min_bytes=10 << 20):
    """An MP4 of more than `min_bytes` with its index (moov) at the end, as
    cameras and ffmpeg write by default: few frames of lossless noise, so the
    file is big but cheap to decode and stylize (at a small max_side)."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=640x480:r=10:d=1",
           "-vf", "noise=alls=100:allf=t", "-c:v", "libx264",
           "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv444p", path)
    size = os.path.getsize(path)
    if size < min_bytes:
        raise RuntimeError(f"{path} has {size} bytes, wanted {min_bytes}")
    return path


def small_movie(path, seconds=1, size="96x64", rate=10, container_args=()):
    """A small H.264 movie (faststart MP4 unless container_args say else)."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:r={rate}:d={seconds}",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
           *(container_args or ["-movflags", "+faststart"]), path)
    return path


def jpeg(path, size="320x240"):
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=s={size}:d=1", "-frames:v", "1",
           "-q:v", "3", path)
    with open(path, "rb") as f:
        return f.read()


def _chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png(width=16, height=16, extra_chunks=(), bad_idat_crc=False):
    """An RGB PNG with a gradient; `extra_chunks` ((kind, data), ...) go
    before IDAT, as ancillary chunks do."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter: none
        for x in range(width):
            rows += bytes(((x * 255) // max(width - 1, 1),
                           (y * 255) // max(height - 1, 1), 128))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(rows))
    idat_crc = (zlib.crc32(b"IDAT" + idat) ^ 0x5A5A5A5A) & 0xFFFFFFFF \
        if bad_idat_crc else None
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for kind, data in extra_chunks:
        out += _chunk(kind, data)
    return out + _chunk(b"IDAT", idat, idat_crc) + _chunk(b"IEND", b"")


def zlib_bomb(inflated_bytes=1 << 30):
    """A zlib stream of about 1 MiB that inflates to `inflated_bytes` zeros."""
    c = zlib.compressobj(9)
    block = bytes(1 << 20)
    parts = [c.compress(block) for _ in range(inflated_bytes >> 20)]
    parts.append(c.flush())
    return b"".join(parts)


def png_with_ztxt_bomb(bomb):
    """16x16 PNG with a zTXt chunk (keyword, 0, method 0, zlib text)."""
    return png(extra_chunks=[(b"zTXt", b"Comment\x00\x00" + bomb)])


def png_with_iccp_bomb(bomb):
    """16x16 PNG with an iCCP chunk (profile name, 0, method 0, zlib profile)."""
    return png(extra_chunks=[(b"iCCP", b"icc\x00\x00" + bomb)])


def png_header_only(width, height):
    """A PNG whose header declares width x height, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) +
            _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def raw_rgb(width, height):
    """Packed RGB24 with a pattern (not constant, so decoders and the model do
    real work)."""
    row = bytes((i * 7) & 0xFF for i in range(width * 3))
    return row * height
