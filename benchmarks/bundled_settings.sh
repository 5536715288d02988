#!/usr/bin/env bash
# The four settings on the bundled pair over a seeded sample of real GSM8K test problems (the shared
# offline copy), speculative at its default knobs and at token/argmax, then the report.
# Usage: bash benchmarks/bundled_settings.sh [OUT_DIR] [LIMIT] [STEPS...]
#   STEPS: any of baseline skyline speculative token feedback report (default: all, in that order)
# CPU, 2 cores: ~1.5-2 h for 100 problems. Accuracy and token counts are deterministic; seconds are
# only figures when nothing else runs meanwhile (two torch processes slow each other down ~10x).
set -euo pipefail
OUT=${1:-out/gsm8k100}; LIMIT=${2:-100}; shift $(( $# > 2 ? 2 : $# )) || true
STEPS=${*:-baseline skyline speculative token feedback report}
PY=${PYTHON:-.venv/bin/python}
DATA=${DATA:-../shared/data/gsm8k_test_public.jsonl}
COMMON=(dataset=gsm8k "dataset.path=$DATA" dataset.shuffle=true dataset.seed=0 "dataset.limit=$LIMIT" run.progress=false)
for step in $STEPS; do
  case $step in
    baseline) $PY -m reasoning setting=baseline "${COMMON[@]}" hydra.run.dir=$OUT/0-baseline ;;
    skyline) $PY -m reasoning setting=skyline "${COMMON[@]}" hydra.run.dir=$OUT/1-skyline ;;
    feedback) $PY -m reasoning setting=feedback "${COMMON[@]}" hydra.run.dir=$OUT/2-feedback ;;
    speculative) $PY -m reasoning setting=speculative "${COMMON[@]}" hydra.run.dir=$OUT/3-speculative ;;
    token) $PY -m reasoning setting=speculative setting.granularity=token setting.criterion=argmax "${COMMON[@]}" \
             hydra.run.dir=$OUT/4-speculative-token-argmax ;;
    report) $PY -m reasoning.report $OUT --out $OUT ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
