#!/usr/bin/env bash
# Writes the media fuzzer's seed corpus into DIR (default ./media_corpus):
# tiny movies in the containers and codecs the server meets most, made with
# the ffmpeg tool (a few KB each).
set -euo pipefail
dir=${1:-media_corpus}
mkdir -p "$dir"
src="-f lavfi -i testsrc2=size=32x24:rate=5:duration=0.6"
tone="-f lavfi -i sine=frequency=440:sample_rate=8000:duration=0.6"
ff() { ffmpeg -nostdin -hide_banner -loglevel error -y "$@"; }
ff $src $tone -c:v libx264 -preset ultrafast -c:a aac -b:a 16k -shortest "$dir/h264_aac.mp4"
ff $src -c:v libx264 -preset ultrafast -movflags +faststart "$dir/faststart.mp4"
ff $src $tone -c:v libvpx-vp9 -deadline realtime -cpu-used 8 -c:a libopus -b:a 8k -shortest "$dir/vp9_opus.mkv"
ff $src -c:v libvpx -deadline realtime "$dir/vp8.webm"
ff $src $tone -c:v mpeg2video -c:a mp2 -shortest "$dir/mpeg2.ts"
ff $src -c:v mjpeg "$dir/mjpeg.avi"
ff $src -c:v mpeg4 "$dir/mpeg4.mov"
ff $src "$dir/anim.gif"
ff $src -pix_fmt yuv420p "$dir/raw.y4m"
ff $tone -c:a aac -b:a 16k "$dir/audio_only.m4a"
