"""Batch throughput: `segmenter run` over a folder with 1 and 2 worker processes.

    python benchmarks/bench_batch.py [--files 8] [--shape 30 300 300] [--preset tomm20] [--repeats 2]

Writes ``--files`` synthetic fields (benchmarks/bench_building_blocks.make_field, one seed each)
to benchmarks/_scratch/, then times ``helpers.batch.run_batch`` (what ``segmenter run PRESET FOLDER
-o OUT --workers N`` calls) in a fresh Python process per run and into a fresh output folder (so
nothing is skipped), for each configuration:

- ``--workers 1``: one process; numba kernels and Gaussian passes use every core;
- ``--workers 1`` with 1 thread: the baseline for how worker processes scale at equal threads;
- ``--workers 2``: two spawned processes, each capped at cores // 2 threads (the default);
- ``--workers 2`` with 2 threads each (``threads_per_worker=2``, cores oversubscribed), for comparison.

Wall time is end to end (interpreter start, imports, loading the cached compiled kernels, starting
the workers, reading, checksums, writing): the time a user waits. The machine's load average before
and after is recorded, because other work on the machine distorts the comparison. The best of ``--repeats`` runs is
reported, with the sum of the per-file times recorded in the JSON records (the work itself).
Results go to benchmarks/results/batch.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "benchmarks" / "_scratch"
RESULTS = ROOT / "benchmarks" / "results"
TARGET_SPEEDUP = 1.7

#: name: (workers, threads per worker or None for the default)
CONFIGURATIONS = {
    "1 worker (all cores)": (1, None),
    "1 worker, 1 thread (process scaling baseline)": (1, 1),
    "2 workers (cores // 2 threads each)": (2, None),
    "2 workers (2 threads each, oversubscribed)": (2, 2),
}


def make_inputs(files: int, shape: tuple[int, int, int]) -> Path:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_building_blocks import make_field

    from helpers import io

    folder = SCRATCH / f"batch_inputs_{files}x{'x'.join(map(str, shape))}"
    if folder.exists() and len(list(folder.glob("*.tif"))) == files:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for seed in range(files):
        io.write_image(folder / f"field{seed:02d}.tif", make_field(shape, seed=seed),
                       voxel_size=(0.29, 0.108, 0.108))
    return folder


def time_once(preset: str, folder: Path, workers: int, threads: int | None) -> dict:
    output = SCRATCH / "batch_outputs"
    shutil.rmtree(output, ignore_errors=True)
    code = (
        "import sys; from helpers import batch; "
        f"s = batch.run_batch({preset!r}, [{str(folder)!r}], {str(output)!r}, workers={workers}, "
        f"threads_per_worker={threads!r}); sys.exit(0 if s.ok else 1)"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    wall = time.perf_counter() - started
    records = [json.loads(path.read_text()) for path in sorted(output.glob("*_seg.json"))]
    per_file = sum(record["timings_s"]["total"] for record in records)
    steps = sum(sum(record["timings_s"]["steps"].values()) for record in records)
    shutil.rmtree(output, ignore_errors=True)
    return {"wall_s": wall, "sum_per_file_s": per_file, "sum_steps_s": steps, "files": len(records)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=[30, 300, 300])
    parser.add_argument("--preset", default="tomm20")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--name", default="batch", help="results file name (benchmarks/results/NAME.md)")
    args = parser.parse_args(argv)
    shape = tuple(args.shape)
    folder = make_inputs(args.files, shape)
    load_before = os.getloadavg()
    time_once(args.preset, folder, 1, None)  # warm-up: numba's on-disk cache, file-system cache
    rows = []
    for label, (workers, threads) in CONFIGURATIONS.items():
        runs = [time_once(args.preset, folder, workers, threads) for _ in range(args.repeats)]
        best = min(runs, key=lambda run: run["wall_s"])
        rows.append({"configuration": label, "workers": workers, "threads_per_worker": threads,
                     "runs_wall_s": [round(run["wall_s"], 2) for run in runs], **best})
        print(f"{label}: {best['wall_s']:.2f} s", file=sys.stderr)
    base = rows[0]["wall_s"]
    for row in rows:
        row["speedup"] = base / row["wall_s"]
    command = "python benchmarks/bench_batch.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "command": command.strip(), "files": args.files, "shape": list(shape), "preset": args.preset,
        "repeats": args.repeats, "target_speedup_2_workers": TARGET_SPEEDUP,
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    lines = [
        "# Batch throughput: `segmenter run` with 1 and 2 worker processes",
        "",
        f"{args.files} synthetic fields of {' x '.join(map(str, shape))} uint16 (make_field), preset "
        f"`{args.preset}`. {meta['date']}, {meta['machine']}.",
        f"Command: `{meta['command']}`. Wall time of the whole command in a fresh process (start-up, imports, "
        f"starting the workers, reading, checksums, writing), best of {args.repeats}; fresh output folder each run.",
        "Work = the sum of the per-file times in the JSON records (read + steps + write).",
        f"Load average (1, 5, 15 min) before {meta['load_average_before']}, after {meta['load_average_after']} "
        "(other processes on the machine slow the parallel runs most).",
        "",
        "| configuration | wall s | speed-up vs 1 worker | work s (sum over files) | runs s |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['configuration']} | {row['wall_s']:.2f} | {row['speedup']:.2f}x | "
                     f"{row['sum_per_file_s']:.2f} | {', '.join(f'{v:.2f}' for v in row['runs_wall_s'])} |")
    by_name = {row["configuration"]: row for row in rows}
    two = by_name["2 workers (cores // 2 threads each)"]["speedup"]
    one_thread = by_name["1 worker, 1 thread (process scaling baseline)"]["wall_s"]
    scaling = one_thread / by_name["2 workers (cores // 2 threads each)"]["wall_s"]
    lines += ["", f"Target: 2 workers at least {TARGET_SPEEDUP}x faster than 1: "
                  f"{'met' if two >= TARGET_SPEEDUP else 'not met'} ({two:.2f}x). "
                  f"At one thread per process, 2 workers vs 1: {scaling:.2f}x."]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
