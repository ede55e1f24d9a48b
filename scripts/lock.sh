#!/usr/bin/env bash
# Pins every installed dependency of .venv into requirements.lock (the project itself excluded).
set -euo pipefail
cd "$(dirname "$0")/.."
{
  echo "# Pinned dependencies of ECHO-bench: scripts/lock.sh writes this from a working .venv."
  echo "# torch's local build tag is dropped so the same pin takes the CPU or the CUDA build (scripts/setup.sh)."
  .venv/bin/python -m pip freeze --exclude-editable --disable-pip-version-check | grep -v '^-e ' | sed -E 's/^(torch==[0-9.]+)\+[a-z0-9]+$/\1/' | LC_ALL=C sort -f
} > requirements.lock.tmp
mv requirements.lock.tmp requirements.lock
echo "requirements.lock: $(grep -vc '^#' requirements.lock) packages"
