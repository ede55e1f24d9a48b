#!/usr/bin/env bash
# Creates .venv with every dependency at the version pinned in requirements.lock.
#
# torch: the lock pins torch==2.13.0.  pip takes the build that fits the machine:
# on this project's CPU machines a local CPU wheel (pip's find-links); elsewhere
# PyPI's default Linux wheel, which is the CUDA build, so GPU machines get CUDA.
# To force a specific build, set TORCH_INDEX_URL, e.g.
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu   make setup   # CPU only, small
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cu126 make setup   # a given CUDA
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "ECHO-bench needs Python >= 3.11"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# A folder of local wheels (this project's CPU machines keep the CPU torch there).
if [ -d /opt/wheels ]; then export PIP_FIND_LINKS="/opt/wheels${PIP_FIND_LINKS:+ $PIP_FIND_LINKS}"; fi

"${PIP[@]}" install --upgrade pip >/dev/null
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  "${PIP[@]}" install --index-url "$TORCH_INDEX_URL" "$(grep -E '^torch==' requirements.lock)"
fi
"${PIP[@]}" install -r requirements.lock
"${PIP[@]}" install --no-deps -e .

# System tools the tests and the report need (headless Chromium), when we can install them.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "setup: could not install chromium; the report screenshot test will be skipped" >&2
fi
echo "setup: .venv ready ($(.venv/bin/python -c 'import torch; print("torch", torch.__version__, "cuda" if torch.cuda.is_available() else "cpu")'))"
