#!/usr/bin/env bash
# Writes the media fuzzers' seed corpus into DIR (default ./media_corpus):
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
# Unusual media of the movie path: MPEG-TS whose MP2 audio turns from stereo
# 48 kHz to mono 22.05 kHz (two segments joined), ADTS AAC in MPEG-TS, PCM
# in MOV (transcoded); then copies of some one byte longer (the movie path
# fuzzer picks MP4 or Matroska by the input's size parity: both get each).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ff $src -f lavfi -i sine=frequency=440:sample_rate=48000:duration=0.6 -ac 2 \
  -c:v libx264 -preset ultrafast -c:a mp2 -shortest -f mpegts "$tmp/a.ts"
ff $src -f lavfi -i sine=frequency=660:sample_rate=22050:duration=0.6 -ac 1 \
  -c:v libx264 -preset ultrafast -c:a mp2 -shortest -output_ts_offset 0.6 \
  -f mpegts "$tmp/b.ts"
cat "$tmp/a.ts" "$tmp/b.ts" >"$dir/mp2_layout_change.ts"
ff $src $tone -c:v libx264 -preset ultrafast -c:a aac -b:a 16k -shortest -f mpegts "$dir/adts_aac.ts"
ff $src $tone -c:v libx264 -preset ultrafast -c:a pcm_s16le -shortest "$dir/pcm.mov"
# Matroska with a subtitle track that ends after the video (the reader
# follows the unused streams' packets where the container declares the end).
printf '1\n00:00:00,100 --> 00:00:01,500\nhi\n' >"$tmp/late.srt"
ff $src $tone -i "$tmp/late.srt" -map 0 -map 1 -map 2 -c:v libx264 \
  -preset ultrafast -c:a libopus -b:a 8k -c:s srt "$dir/subtitles.mkv"
# HDR (tone-mapped to SDR): 10-bit PQ with HDR10 metadata in the H.264
# SEI, 10-bit HLG.
ff $src -vf format=yuv420p10le -c:v libx264 -preset ultrafast \
  -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc \
  -x264-params "mastering-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):cll=1000,400" \
  "$dir/hdr10_pq.mkv"
ff $src -vf format=yuv420p10le -c:v libx264 -preset ultrafast \
  -color_primaries bt2020 -color_trc arib-std-b67 -colorspace bt2020nc \
  "$dir/hlg.mp4"
for f in mp2_layout_change.ts adts_aac.ts h264_aac.mp4; do
  cp "$dir/$f" "$dir/plus1_$f"
  printf '\0' >>"$dir/plus1_$f"
done
