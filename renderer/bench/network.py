"""The network as the unit of work (``python -m renderer.bench --only network``, about 2
minutes on one thread):

- MaCo's cost: one ``class`` dream's CPU seconds per crop pass over the network's own
  forward and backward on the same crops, measured before and after it in this process
  (goal <= 1.3; ``bench.maco.maco_overhead``);
- two copies of the bare network loop at once against one alone, each a one-thread process:
  does the hardware (memory bandwidth, shared caches) halve two side-by-side jobs? Their CPU
  seconds per crop say so whatever the neighbours do (a busy machine stretches the wall
  time, not the CPU time, unless the two copies fight over the memory);
- a roofline of the photo dream's network step at 512 and 2048 px (``bench.roofline``):
  the share of the matmul peak each convolution type reaches, whether the depthwise layers
  are memory-bound, and the ceiling the roofline allows for the whole network.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from ..dream.objectives import layer_objective, resolve_terms
from ..dream.presets import get_preset
from ..models import load_model
from .maco import maco_overhead
from .roofline import machine, matmul_peak, memory_bandwidth, roofline

SIZES = ((384, 512), (1536, 2048))  # (h, w): a 4:3 photo dreamt at 512 and 2048 px
LOOP_REPEATS = 9

_LOOP = """
import json, sys, time, torch
torch.set_num_threads(1)
from renderer.bench.maco import network_cpu_per_crop
from renderer.models import load_model
model = load_model()
network_cpu_per_crop(model, 160, repeats=1)
print("ready", flush=True)
sys.stdin.readline()
wall = time.perf_counter()
cpu = network_cpu_per_crop(model, 160, repeats=int(sys.argv[1]))
print(json.dumps({"cpu_per_crop": cpu, "wall_s": time.perf_counter() - wall}), flush=True)
"""


def network_loops(copies: int, repeats: int = LOOP_REPEATS) -> tuple[float, float]:
    """``copies`` one-thread processes running the bare network loop, started together once
    each has loaded the model: their mean CPU seconds per crop and the longest wall time."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-c", _LOOP, str(repeats)]
    procs = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(copies)
    ]
    try:
        for proc in procs:
            while proc.stdout.readline().strip() != "ready":
                if proc.poll() is not None:
                    raise RuntimeError("a network loop died before it started")
        for proc in procs:
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outs = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    cpu = sum(out["cpu_per_crop"] for out in outs) / copies
    return cpu, max(out["wall_s"] for out in outs)


def side_by_side() -> dict[str, object]:
    """Two copies at once against one alone (alone before and after, averaged)."""
    alone_before, wall_before = network_loops(1)
    both, wall_both = network_loops(2)
    alone_after, wall_after = network_loops(1)
    alone = (alone_before + alone_after) / 2
    return {
        "network_alone_cpu_ms_per_crop": round(1000 * alone, 1),
        "network_side_by_side_cpu_ms_per_crop": round(1000 * both, 1),
        "side_by_side_cpu_over_alone": round(both / alone, 2),
        "side_by_side_wall_over_alone": round(wall_both / ((wall_before + wall_after) / 2), 2),
    }


def run(out_dir: Path) -> dict:
    model = load_model()
    results: dict[str, object] = {"cpu_cores": os.cpu_count() or 0}
    results.update(maco_overhead(model))
    results.update(side_by_side())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a gallery worker runs; CPU seconds throughout
    try:
        recipe = get_preset("classic").recipe
        objective = layer_objective(resolve_terms(model, recipe.terms))
        peak, bandwidth = matmul_peak(), memory_bandwidth()
        results.update(machine(peak, bandwidth))
        for size in SIZES:
            results.update(roofline(model, objective, size, peak, bandwidth))
    finally:
        torch.set_num_threads(threads)
    return results
