"""How long the bundled models take: first conversion (join + check + dequantize + save) and cached reload.

    python benchmarks/bundled_load.py                      # both models, fresh temporary cache
    python benchmarks/bundled_load.py --cache-dir DIR      # keep the converted folders in DIR
    python benchmarks/bundled_load.py --models qwen2.5-coder-0.5b-instruct

Each phase runs in its own process, so the peak RSS and the reload time are those of a fresh process
(a reload inside the converting process would find the files in the page cache and the heap warm).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time


def child(phase: str, name: str, cache: str) -> None:
    from reasoning.models.bundled import ensure_bundled

    start = time.perf_counter()
    folder = ensure_bundled(name, cache)
    seconds = {"ensure_s": time.perf_counter() - start}
    if phase == "load":
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        start = time.perf_counter()
        AutoTokenizer.from_pretrained(folder, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True)
        seconds["load_s"] = time.perf_counter() - start
        # safetensors weights are memory-mapped: one forward pass touches them all, so the peak
        # RSS below is what a loaded, used model costs.
        model(input_ids=torch.tensor([[1, 2, 3]]))
    size = sum(f.stat().st_size for f in folder.iterdir())
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux
    print(
        json.dumps(
            {
                "phase": phase,
                "model": name,
                **seconds,
                "peak_rss_gb": peak_gb,
                "folder_gb": size / 1e9,
            }
        )
    )


def run_phase(phase: str, name: str, cache: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    proc = subprocess.run(
        [sys.executable, __file__, "--child", phase, name, cache],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        sys.exit(f"{phase} {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from reasoning.models.bundled import BUNDLED

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", nargs="+", default=list(BUNDLED), choices=list(BUNDLED))
    parser.add_argument(
        "--cache-dir", help="cache to use and keep (default: a fresh temporary folder)"
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    cache = args.cache_dir or tempfile.mkdtemp(prefix="reasoning-bench-")
    try:
        print(f"cache: {cache}")
        print(
            f"{'model':<30} {'phase':<8} {'ensure s':>9} {'load s':>7} {'peak RSS GB':>12} {'folder GB':>10}"
        )
        for name in args.models:
            for phase in ("convert", "load"):
                r = run_phase(phase, name, cache)
                load = f"{r['load_s']:7.1f}" if "load_s" in r else f"{'':7}"
                print(
                    f"{name:<30} {phase:<8} {r['ensure_s']:9.1f} {load} {r['peak_rss_gb']:12.2f} {r['folder_gb']:10.2f}"
                )
    finally:
        if not args.cache_dir:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
