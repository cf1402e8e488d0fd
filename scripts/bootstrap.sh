#!/usr/bin/env bash
# Create .venv and install MetaDVFS with the CPU build of torch.
#   bash scripts/bootstrap.sh        -> runtime dependencies
#   bash scripts/bootstrap.sh dev    -> plus test/lint tools
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
[ "${1:-}" = "dev" ] && extra="[dev]"
.venv/bin/python -m pip install --quiet -e ".${extra}"
echo "MetaDVFS installed in .venv ($(.venv/bin/python -c 'import metadvfs; print(metadvfs.__version__)'))"
