#!/usr/bin/env bash
# Makes tests/data/sample.mp4, the bundled sample movie: three freely licensed
# photographs from scikit-image's sample data (Debian package python3-skimage),
# each animated with a slow pan or zoom, joined by cross-fades, with a generated
# chord as the sound track. 640x360, 20 fps, 4 s, H.264 + AAC, faststart MP4.
# Sources and licences: docs/cli.md ("The sample movie").
#   usage: tests/data/make_sample.sh [SKIMAGE_DATA_DIR] [OUT.mp4]
set -euo pipefail
cd "$(dirname "$0")/../.."
src=${1:-/usr/lib/python3/dist-packages/skimage/data}
out=${2:-tests/data/sample.mp4}
for f in chelsea.png coffee.png rocket.jpg; do
  [ -f "$src/$f" ] || { echo "missing $src/$f (apt-get install python3-skimage)" >&2; exit 1; }
done
fps=20
seg=32   # frames per photograph (1.6 s); 0.4 s cross-fades make 4.0 s in all
# Each photograph: cover 1280x720 (upscaled, cropped), then zoompan to 640x360.
#  chelsea: slow zoom in on the centre; coffee: pan left to right; rocket: zoom out.
filter="
[0:v]scale=1280:720:force_original_aspect_ratio=increase,crop=1280:720,setsar=1,
  zoompan=z='1.0+0.25*on/${seg}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=${seg}:s=640x360:fps=${fps},
  format=yuv420p[a];
[1:v]scale=1600:900:force_original_aspect_ratio=increase,crop=1600:900,setsar=1,
  zoompan=z='1.25':x='(iw-iw/zoom)*on/${seg}':y='(ih-ih/zoom)/2':d=${seg}:s=640x360:fps=${fps},
  format=yuv420p[b];
[2:v]scale=1280:720:force_original_aspect_ratio=increase,crop=1280:720,setsar=1,
  zoompan=z='1.3-0.3*on/${seg}':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=${seg}:s=640x360:fps=${fps},
  format=yuv420p[c];
[a][b]xfade=transition=fade:duration=0.4:offset=1.2[ab];
[ab][c]xfade=transition=fade:duration=0.4:offset=2.4,format=yuv420p[v];
[3:a][4:a][5:a]amix=inputs=3:normalize=0,volume=0.25,
  afade=t=in:d=0.3,afade=t=out:st=3.5:d=0.5[s]"
tmp="$out.tmp.mp4"
trap 'rm -f "$tmp"' EXIT
ffmpeg -nostdin -hide_banner -loglevel error -y \
  -loop 1 -framerate ${fps} -t 2 -i "$src/chelsea.png" \
  -loop 1 -framerate ${fps} -t 2 -i "$src/coffee.png" \
  -loop 1 -framerate ${fps} -t 2 -i "$src/rocket.jpg" \
  -f lavfi -i "sine=frequency=220:sample_rate=48000:duration=4" \
  -f lavfi -i "sine=frequency=277.18:sample_rate=48000:duration=4" \
  -f lavfi -i "sine=frequency=329.63:sample_rate=48000:duration=4" \
  -filter_complex "$filter" -map "[v]" -map "[s]" -t 4 \
  -c:v libx264 -preset slow -crf 26 -pix_fmt yuv420p -r ${fps} \
  -c:a aac -b:a 64k -ac 2 -movflags +faststart -map_metadata -1 \
  -metadata title="stylizer sample movie" "$tmp"
mv "$tmp" "$out"
ls -l "$out"
