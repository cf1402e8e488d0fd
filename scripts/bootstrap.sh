#!/usr/bin/env bash
# Create .venv and install MetaDVFS with the CPU build of torch.
#   bash scripts/bootstrap.sh        -> runtime dependencies
#   bash scripts/bootstrap.sh dev    -> plus test/lint tools
#   bash scripts/bootstrap.sh ray    -> plus Ray (metadvfs[ray]: --ray, metadvfs sweep); "dev,ray" for both
# GPU users: install the CUDA torch build you want into .venv first (see README), it is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # torch 2.13.0 CPU wheel (on this project's machines it is served from local disk).
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
fi
extra=""
case "${1:-}" in
  "") ;;
  dev|ray|dev,ray|ray,dev) extra="[${1}]" ;;
  *) echo "error: unknown extra '${1}' (allowed: dev, ray, dev,ray)" >&2; exit 2 ;;
esac
.venv/bin/python -m pip install --quiet -e ".${extra}"
echo "MetaDVFS installed in .venv ($(.venv/bin/python -c 'import metadvfs; print(metadvfs.__version__)'))"
