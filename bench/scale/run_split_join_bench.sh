#!/usr/bin/env bash
# Makes a movie (default: 10 minutes of 1080p at 24 fps, H.264 + AAC, a
# keyframe every 2 s) with the ffmpeg CLI and times the split and the join
# of `stylizer video --split` on it, without any server:
# build/bench/scale/split_join_bench.
#   usage: bench/scale/run_split_join_bench.sh [SECONDS] [SIZE] [SEGMENTS] [STYLES]
#   env:   BUILD_DIR (default build)
set -euo pipefail
shopt -s inherit_errexit  # a function's failing command stops it inside $(...) too
# A BUILD_DIR given is the caller's (resolved before the cd).
[ -z "${BUILD_DIR:-}" ] || BUILD_DIR=$(realpath -m "$BUILD_DIR")
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
SECONDS_=${1:-600}
SIZE=${2:-1920x1080}
SEGMENTS=${3:-4}
STYLES=${4:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t0=$(date +%s)
ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi \
  -i "testsrc2=s=$SIZE:r=24:d=$SECONDS_" -f lavfi -i "sine=f=440:d=$SECONDS_" \
  -c:v libx264 -preset ultrafast -g 48 -pix_fmt yuv420p -c:a aac -shortest \
  "$work/movie.mp4"
size_mib=$(du -m "$work/movie.mp4" | cut -f1)
echo "made the movie in $(( $(date +%s) - t0 )) s: $size_mib MiB" >&2
echo "| movie | segments | styles | probe s | split s | join s per style | all s |"
echo "|---|---|---|---|---|---|---|"
"$BUILD_DIR/bench/scale/split_join_bench" "$work/movie.mp4" "$SEGMENTS" "$STYLES"
