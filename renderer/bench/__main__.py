"""Run every bench section and write ``bench.json`` and ``bench.md`` to ``--out``."""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
from pathlib import Path

import torch

from ..heap import keep_freed_memory
from ..imageio import write_text_atomic

SECTIONS = (
    "dream",
    "printsize",
    "network",
    "maco",
    "explain",
    "lime",
    "gallery",
    "site",
    "masks",
    "video",
)


def _table(results: dict) -> str:
    lines = ["# dreamgallery bench", ""]
    for section, figures in results.items():
        lines += [f"## {section}", "", "| figure | value |", "| --- | --- |"]
        if isinstance(figures, dict):
            for key, value in figures.items():
                if isinstance(value, float):
                    value = f"{value:.4g}"
                lines.append(f"| {key} | {value} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m renderer.bench")
    parser.add_argument("--out", type=Path, default=Path("bench-results"))
    parser.add_argument("--only", choices=SECTIONS, action="append")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as the CLI and the gallery's workers run (renderer/heap.py)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "machine": {
            "cpu_threads": torch.get_num_threads(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M"),
        }
    }
    for section in args.only or SECTIONS:
        try:
            module = importlib.import_module(f"renderer.bench.{section}")
        except ModuleNotFoundError:
            print(f"bench: section {section} not available yet", file=sys.stderr)
            continue
        print(f"bench: {section} ...", file=sys.stderr, flush=True)
        results[section] = module.run(args.out)
    write_text_atomic(args.out / "bench.json", json.dumps(results, indent=2) + "\n")
    table = _table(results)
    write_text_atomic(args.out / "bench.md", table + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
