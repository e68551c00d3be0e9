#!/bin/sh
# The image's install steps, in one place: infra/Dockerfile runs exactly this, and
# tests/integration/infra/test_image_install.py runs it into a fresh virtualenv (no Docker
# daemon here), so what the image installs cannot drift from what the test proves works.
#   sh infra/install.sh VENV [SOURCE]
set -eu
venv="$1"
source="${2:-.}"
python3 -m venv "$venv"
"$venv/bin/pip" install --no-cache-dir --no-compile --quiet "$source"
# every process of the image starts from this entry point: it must import and answer
"$venv/bin/larder" --help >/dev/null
"$venv/bin/larder" worker --help >/dev/null
"$venv/bin/python" -c "import actors, programs.http.app, workers.broker" 2>/dev/null || {
  echo "install.sh: the installed package does not import" >&2; exit 1; }
echo "install.sh: larder installed into $venv"
