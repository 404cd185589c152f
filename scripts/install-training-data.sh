#!/usr/bin/env bash
# Installs the Debian packages whose photos the trainer and the evaluation use
# as content images (see training/content_photos.txt). Not needed to build,
# test or serve; only to retrain or re-evaluate the bundled model.
set -euo pipefail
PACKAGES=(python3-skimage mate-backgrounds lomiri-wallpapers)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && { echo "install-training-data: all present"; exit 0; }
if [ "$(id -u)" -ne 0 ]; then
  echo "install-training-data: run as root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
