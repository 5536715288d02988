#!/usr/bin/env bash
# The four settings on the bundled pair over the offline dataset (issue evidence), then the report.
# Usage: bash benchmarks/bundled_settings.sh [OUT_DIR] [LIMIT]   (CPU: ~30-60 min for 20 problems)
# Run nothing else heavy meanwhile: two torch processes on 2 cores slow each other down ~10x.
set -euo pipefail
OUT=${1:-out/bundled}; LIMIT=${2:-20}
PY=${PYTHON:-.venv/bin/python}
$PY -m reasoning -m setting=baseline,skyline,feedback,speculative dataset.limit=$LIMIT run.progress=false \
    hydra.sweep.dir=$OUT
$PY -m reasoning setting=speculative setting.granularity=token setting.criterion=argmax \
    setting.draft_tokens=32 setting.max_interventions=1000 dataset.limit=$LIMIT run.progress=false \
    hydra.run.dir=$OUT/4-speculative-token-argmax
$PY -m reasoning.report $OUT
