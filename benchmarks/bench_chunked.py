"""Volumes larger than memory: a 200 x 2048 x 2048 uint16 volume (1.6 GB) through two presets, block by block.

Draws the volume once (OME-Zarr, in ``benchmarks/_data/``, gitignored): the shipped synthetic samples of a
filament structure (tjp1) and a spot structure (gja1), summed, tiled over the whole field with random flips
and fresh noise per tile. Then runs each preset with :func:`helpers.chunked.run_chunked`, reading the
volume lazily, for each number of workers, while a sampler thread records the peak resident memory of this
process and all its children (every 0.1 s). Prints and records voxels per second and peak memory.

    python benchmarks/bench_chunked.py                          # tjp1 and gja1, 1 and 2 workers
    python benchmarks/bench_chunked.py --presets gja1 --workers 2 --shape 40 1024 1024
    python benchmarks/bench_chunked.py --workers 1 --threads 1  # one core: the baseline for scaling
    python benchmarks/bench_chunked.py --samples slc25a17 --presets slc25a17 --workers 2   # a watershed cut

``--samples`` names the shipped samples summed into the tile (default tjp1 and gja1); each set of samples
and shape is drawn once into its own volume. The default volume's filaments join across tiles into one
network, which a preset that seeds whole objects (cetn2, slc25a17, dsp) cannot take block by block: use
a dot sample for those.

One worker runs the blocks in this process, whose compiled filters use every core (``--threads``
limits that); two or more workers are processes of ``cores / workers`` threads each.

Results: ``benchmarks/results/chunked.json`` (one entry per run, appended) and ``chunked.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "_data"
RESULTS = ROOT / "benchmarks" / "results"


def draw_volume(path: Path, shape, *, samples=("tjp1", "gja1"), seed: int = 0) -> Path:
    """The benchmark volume: the samples summed, tiled with random flips, uint16, OME-Zarr."""
    from helpers.chunked.arrays import OmeZarrOutput
    from helpers.io import read_image

    images = [read_image(ROOT / "data_samples" / f"{name}.ome.tif") for name in samples]
    tile = sum(image.data.astype(np.float32) for image in images)
    tz, ty, tx = tile.shape
    rng = np.random.default_rng(seed)
    output = OmeZarrOutput(path, shape=shape, dtype="uint16", chunks=(8, 256, 256),
                           voxel_size=images[0].voxel_size, name="benchmark volume", overwrite=True)
    for z0 in range(0, shape[0], tz):
        z1 = min(shape[0], z0 + tz)
        slab = np.empty((z1 - z0, shape[1], shape[2]), dtype=np.uint16)
        for y0 in range(0, shape[1], ty):
            for x0 in range(0, shape[2], tx):
                piece = tile[:, :: rng.choice([-1, 1]), :: rng.choice([-1, 1])]
                noisy = piece + rng.normal(0, 3, piece.shape).astype(np.float32)
                h, w = min(ty, shape[1] - y0), min(tx, shape[2] - x0)
                slab[:, y0:y0 + h, x0:x0 + w] = np.clip(noisy[: z1 - z0, :h, :w], 0, 65535).astype(np.uint16)
        output.array.write((slice(z0, z1), slice(None), slice(None)), slab)
        del slab
    return output.finish()


class PeakMemory:
    """Peak resident memory (bytes) of this process and its children, sampled every ``interval`` s."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for process in [self.process, *self.process.children(recursive=True)]:
            try:
                total += process.memory_info().rss
            except Exception:  # a child that just ended
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def run_once(volume: Path, preset: str, workers: int, memory_gb: float, threads: int | None = None) -> dict:
    import zarr

    from helpers.chunked import run_chunked
    from helpers.chunked.arrays import read_ome_zarr_voxel_size
    from helpers.workflow import load_preset

    import numba

    image = zarr.open_array(str(volume / "0"), mode="r")
    if threads is not None:
        numba.set_num_threads(threads)
    threads_used = numba.get_num_threads() if workers == 1 else max(1, (os.cpu_count() or 1) // workers)
    output = DATA / f"{preset}_w{workers}_seg.ome.zarr"
    started = time.perf_counter()
    with PeakMemory() as memory:
        result = run_chunked(load_preset(preset), image, output, voxel_size=read_ome_zarr_voxel_size(volume),
                             memory_gb=memory_gb, workers=workers, overwrite=True)
    seconds = time.perf_counter() - started
    voxels = int(np.prod(image.shape))
    entry = {
        "preset": preset, "volume": volume.name, "workers": workers, "threads_per_worker": threads_used,
        "shape": list(image.shape), "memory_gb_budget": memory_gb,
        "seconds": round(seconds, 1), "voxels_per_second": round(voxels / seconds),
        "peak_memory_gb": round(memory.peak / 2**30, 2), "foreground_voxels": result.foreground_voxels,
        "step_seconds": result.timings,
    }
    shutil.rmtree(output, ignore_errors=True)
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["tjp1", "gja1"])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--shape", type=int, nargs=3, default=[200, 2048, 2048])
    parser.add_argument("--samples", nargs="+", default=["tjp1", "gja1"], help="shipped samples summed into the tile")
    parser.add_argument("--memory-gb", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the in-process run (--workers 1); default: every core")
    parser.add_argument("--note", default=None, help="a remark stored with each run (e.g. what else ran)")
    args = parser.parse_args()
    if args.threads is not None:
        for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[variable] = str(args.threads)
    DATA.mkdir(parents=True, exist_ok=True)
    tag = "" if args.samples == ["tjp1", "gja1"] else "_" + "_".join(args.samples)
    volume = DATA / f"volume{tag}_{'x'.join(map(str, args.shape))}.ome.zarr"
    if not volume.exists():
        started = time.perf_counter()
        draw_volume(volume, tuple(args.shape), samples=args.samples)
        print(f"drew {volume} in {time.perf_counter() - started:.0f} s", flush=True)
    entries = []
    for preset in args.presets:
        for workers in args.workers:
            entry = run_once(volume, preset, workers, args.memory_gb, args.threads)
            entry.update(date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         machine=f"{platform.machine()}, {os.cpu_count()} cores",
                         command="python benchmarks/bench_chunked.py " + " ".join(
                             f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
                             for k, v in vars(args).items() if v is not None and k != "note"))
            if args.note:
                entry["note"] = args.note
            print(json.dumps(entry), flush=True)
            entries.append(entry)
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / "chunked.json"
    history = json.loads(log.read_text()) if log.exists() else []
    history.extend(entries)
    log.write_text(json.dumps(history, indent=2) + "\n")
    write_table(history)


def write_table(history: list[dict]) -> None:
    """``results/chunked.md`` from every recorded run (``chunked.json``)."""
    lines = ["# Block-wise runs (volumes larger than memory)", "",
             "Written by `benchmarks/bench_chunked.py`; every run so far, newest last.", "",
             "One worker runs in this process with every core's threads (unless `--threads`); more workers are "
             "processes of cores / workers threads each.", "",
             "| date | preset | volume | workers | threads each | seconds | voxels/s | peak memory (GB) | budget (GB) "
             "| note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for e in history:
        lines.append(f"| {e['date'][:16]} | {e['preset']} | {e['volume']} | {e['workers']} | "
                     f"{e.get('threads_per_worker', '')} | {e['seconds']} | {e['voxels_per_second']:,} | "
                     f"{e['peak_memory_gb']} | {e['memory_gb_budget']} | {e.get('note', '')} |")
    (RESULTS / "chunked.md").write_text("\n".join(lines) + "\n")

if __name__ == "__main__":
    main()
