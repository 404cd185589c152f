#!/usr/bin/env bash
# Unit tests of the trainer's Python pieces (losses, measures, photo list,
# training loop with checkpoint/resume/export on tiny images). Under a minute.
set -euo pipefail
cd "$(dirname "$0")/../../training"
/usr/bin/python3 -m unittest discover -s . -p '*_test.py' -t .
