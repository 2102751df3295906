"""``make bench``: timings and quality figures, as ratios against references run in the same
process on the same machine. Each area has a module with ``run(out_dir: Path) -> dict``."""
