#!/usr/bin/env bash
# Writes the image fuzzer's seed corpus into DIR (default ./image_corpus):
# small PNGs and JPEGs in the pixel formats FFmpeg's decoders hand back (made
# with the ffmpeg tool), hostile images (compressed PNG
# metadata that inflates far beyond its size, a JPEG cut short, a JPEG with
# two frame headers, one with a JPEG inside its EXIF segment, one with an
# EXIF orientation, a PNG with a
# bad CRC or without its end), and raw images (4-byte little-endian width and
# height, then RGB24) of ordinary and thin shapes.
set -euo pipefail
dir=${1:-image_corpus}
mkdir -p "$dir"
src="-f lavfi -i testsrc2=size=40x30 -frames:v 1"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
for fmt in rgb24 rgba gray ya8 pal8 rgb48be gray16be; do
  ff $src -pix_fmt $fmt "$dir/$fmt.png"
done
# One column and one row: swscale's SIMD code reads past short rows.
ff $src -vf format=rgb24,crop=1:30 "$dir/1x30.png"
ff $src -vf format=rgb24,crop=30:1 "$dir/30x1.jpg"
for fmt in yuvj420p yuvj422p yuvj444p gray; do
  ff $src -pix_fmt $fmt "$dir/$fmt.jpg"
done
python3 - "$dir" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
png = open(f"{d}/rgb24.png", "rb").read()
jpg = open(f"{d}/yuvj420p.jpg", "rb").read()
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data))
bomb = zlib.compress(bytes(8 << 20), 9)  # 8 MiB of zeros in about 8 KiB
after_ihdr = 8 + 25
for kind, head in ((b"zTXt", b"Comment\0\0"), (b"iCCP", b"icc\0\0"),
                   (b"iTXt", b"Comment\0\1\0\0\0")):
    name = kind.decode().lower()
    with open(f"{d}/{name}_bomb.png", "wb") as f:
        f.write(png[:after_ihdr] + chunk(kind, head + bomb) + png[after_ihdr:])
idat = png.index(b"IDAT") - 4
bad_crc = bytearray(png)
bad_crc[idat + 8 + struct.unpack(">I", png[idat:idat + 4])[0]] ^= 1
# JPEG structure the walk refuses or drops: a second frame header (declaring
# 64x48 before the real one), and an EXIF segment holding a whole JPEG.
sof = jpg.index(b"\xff\xc0")
sof_len = struct.unpack(">H", jpg[sof + 2:sof + 4])[0]
decoy = bytearray(jpg[sof:sof + 2 + sof_len])
decoy[5:9] = struct.pack(">HH", 48, 64)
exif = b"Exif\0\0" + jpg
# A phone photo's EXIF: big-endian TIFF, IFD0 with a camera make and the
# orientation (6: rotate 90 degrees clockwise), which the decoder applies.
ifd0 = (struct.pack(">H", 2) + struct.pack(">HHIHH", 0x010F, 2, 4, 0, 0) +
        struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0))
oriented = b"Exif\0\0MM\0*" + struct.pack(">I", 8) + ifd0
files = {
    "exif_orientation_6.jpg": jpg[:2] + b"\xff\xe1" +
        struct.pack(">H", len(oriented) + 2) + oriented + jpg[2:],
    "two_sof.jpg": jpg[:sof] + bytes(decoy) + jpg[sof:],
    "exif_thumbnail.jpg": jpg[:2] + b"\xff\xe1" +
        struct.pack(">H", len(exif) + 2) + exif + jpg[2:],
    "bad_crc.png": bytes(bad_crc),
    "no_iend.png": png[:-12],
    "truncated.png": png[: len(png) // 2],
    "truncated_25.jpg": jpg[: len(jpg) // 4],
    "no_eoi.jpg": jpg[:-2],
    "raw_8x8.raw": struct.pack("<HH", 8, 8) + bytes(range(192)),
    "raw_40x30.raw": struct.pack("<HH", 40, 30) + bytes(40 * 30 * 3),
    "raw_thin.raw": struct.pack("<HH", 4097, 1) + bytes(4097 * 3),
}
for name, data in files.items():
    with open(f"{d}/{name}", "wb") as f:
        f.write(data)
PY
