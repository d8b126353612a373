"""Speed and peak memory of every classic building block, ours against the reference.

    python benchmarks/bench_building_blocks.py [--reference REF_PYTHON] [--repeats N] [--only NAME ...]

Draws one synthetic 65 x 600 x 900 uint16 field (the size of an Allen hiPS cell field: cells with
filaments, dots, Golgi-like clusters, on uneven background with camera noise), prepares each
block's input once (with our implementation), then times each block in a fresh child process:
ours with this interpreter, the reference's with ``REF_PYTHON`` (a virtual environment with
aicssegmentation 0.5.3, see tests/goldens/make_reference_env.sh; skipped when not given or absent).
Wall time is the best of ``--repeats`` runs; peak memory is the child's maximum resident set size
(whole process, including the loaded input) and the increase over the resident size just before
the call. Our compiled kernels are warmed up on a small image first (numba caches them on disk, so
a user pays the compile cost once per installation, see the "first call" column).

Results go to benchmarks/results/building_blocks.md and .json, with the command, the machine and
the package versions. The block calls themselves are the ones the golden parity test uses
(tests/test_golden_parity.run_ours and tests/goldens/make_goldens.run_block), so the benchmark
measures exactly the code that is proven equal.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "benchmarks" / "_scratch"
RESULTS = ROOT / "benchmarks" / "results"
SHAPE = (65, 600, 900)

# name: (block or "+"-joined blocks, params, input names, target wall seconds, target peak GB)
BENCHMARKS = {
    "auto_contrast (AC)": ("auto_contrast", {"lower_sd": 1.5, "upper_sd": 8.0}, ["raw"], None, None),
    "min_max with bound (MM)": ("min_max", {"upper_bound": 4000}, ["raw"], None, None),
    "gaussian_3d (G3)": ("gaussian_3d", {"sigma": 1.0}, ["normalized"], None, None),
    "gaussian_2d (G2)": ("gaussian_2d", {"sigma": 1.0}, ["normalized"], None, None),
    "edge_preserving (ES)": ("edge_preserving", {}, ["normalized"], 5.0, None),
    "filament_filter_3d, one scale (F3)": ("filament_filter_3d", {"scales": [[1.0, 0.01]]}, ["smooth_es"], 3.0, 2.0),
    "filament_filter_2d (F2)": ("filament_filter_2d", {"scales": [[1.0, 0.15]]}, ["smooth_es"], 1.5, None),
    "spot_filter_3d (S3)": ("spot_filter_3d", {"scales": [[1.0, 0.04]]}, ["smooth_2d"], None, None),
    "spot_filter_2d (S2)": ("spot_filter_2d", {"scales": [[1.0, 0.01]]}, ["smooth_2d"], None, None),
    "masked_object_threshold low + high (MO)": (
        "masked_object_threshold_low+masked_object_threshold_high",
        {"method": "triangle", "min_size": 1200, "dilate": True, "extra_criteria": False, "local_adjust": 0.98},
        ["smooth_3d"], None, None),
    "remove_small_objects (SIZE)": ("remove_small_objects", {"min_size": 20}, ["filament_mask"], None, None),
    "fill_holes per slice (HOLES)": ("fill_holes", {"min_size": 0, "max_size": 1600, "per_slice": True},
                                     ["spot_mask_2d"], None, None),
    "thin (THIN)": ("thin", {"min_thickness": 1.6, "thin": 1}, ["golgi_mask"], 1.0, None),
    "local maxima + watershed cut (MAXIMA + WCUT)": (
        "find_local_maxima+cut_touching_objects", {"min_distance": 2}, ["normalized", "dot_mask"], 3.0, None),
}
#: Reference figures on this machine from shared/spec/REFERENCE.md (wall s), for the notes column.
REFERENCE_NOTE = {"edge_preserving": 20, "filament_filter_3d": 31, "filament_filter_2d": 15,
                  "spot_filter_3d": 1.2, "spot_filter_2d": 0.6, "thin": 3.3,
                  "find_local_maxima+cut_touching_objects": 9, "gaussian_3d": 0.3, "auto_contrast": 0.5}


# ----------------------------------------------------------------------------------------------
# the field and the prepared inputs
# ----------------------------------------------------------------------------------------------

def _splat(volume, points, values):
    idx = np.round(points).astype(int)
    keep = np.all((idx >= 0) & (idx < np.array(volume.shape)), axis=1)
    np.add.at(volume, tuple(idx[keep].T), values[keep])


def make_field(shape=SHAPE, seed: int = 0) -> np.ndarray:
    """A synthetic spinning-disk-like hiPS field (Z, Y, X), uint16: filaments, dots (some touching),
    Golgi-like clusters, uneven background, Poisson and Gaussian camera noise. Object counts scale
    with the volume, so a small field looks like a crop of the full one."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    density = (nz * ny * nx) / float(np.prod(SHAPE))
    count = lambda n: max(1, int(round(n * density)))  # noqa: E731
    margin = min(8, nz // 4)
    signal = np.zeros(shape, np.float32)
    # filaments: random segments, mostly lying within a few slices
    for _ in range(count(400)):
        start = rng.uniform([margin, 0, 0], [nz - margin, ny, nx])
        direction = rng.normal(0, 1, 3) * [0.08, 1, 1]
        direction /= np.linalg.norm(direction)
        t = np.arange(0, rng.uniform(30, 160), 0.5)[:, None]
        _splat(signal, start + t * direction, np.full(len(t), rng.uniform(300, 900), np.float32))
    # dots (some touching pairs)
    centres = rng.uniform([margin, 0, 0], [nz - margin, ny, nx], (count(2500), 3))
    pairs = centres[: count(800)] + rng.normal(0, 1, (min(count(800), len(centres)), 3)) * [0.3, 1, 1] + [0, 3, 0]
    dots = np.concatenate([centres, pairs])
    _splat(signal, dots, rng.uniform(2000, 6000, len(dots)).astype(np.float32))
    # Golgi-like clusters of small blobs
    for _ in range(count(40)):
        c = rng.uniform([nz * 0.3, ny * 0.1, nx * 0.1], [nz * 0.7, ny * 0.9, nx * 0.9])
        blobs = c + rng.normal(0, 1, (150, 3)) * [2, 8, 8]
        _splat(signal, blobs, np.full(150, 1500, np.float32))
    signal = ndimage.gaussian_filter(signal, (0.9, 1.3, 1.3))
    _, yy, xx = np.ogrid[:nz, :ny, :nx]
    background = 400 * (1 + 0.2 * (xx / nx) - 0.15 * ((yy - ny / 2) / ny) ** 2)
    expected = np.clip(signal * 3 + background, 0, None)
    image = rng.poisson(expected).astype(np.float32) + rng.normal(0, 8, shape).astype(np.float32)
    return np.clip(np.round(image), 0, 65535).astype(np.uint16)


def prepare_inputs() -> dict[str, Path]:
    """Write the field and every block input to benchmarks/_scratch (made with our implementation)."""
    from helpers import filaments, morphology, normalization, smoothing, spots, thresholds

    SCRATCH.mkdir(parents=True, exist_ok=True)
    paths = {name: SCRATCH / f"{name}.npy" for name in (
        "raw", "normalized", "smooth_es", "smooth_2d", "smooth_3d", "filament_mask", "spot_mask_2d",
        "golgi_mask", "dot_mask")}
    if all(p.exists() for p in paths.values()):
        return paths
    raw = make_field()
    normalized = normalization.auto_contrast(raw, lower_sd=1.5, upper_sd=8.0)
    smooth_es = smoothing.edge_preserving_smooth(normalized)
    smooth_2d = smoothing.gaussian_smooth_2d(normalized, sigma=1.0)
    smooth_3d = smoothing.gaussian_smooth_3d(normalized, sigma=1.0)
    arrays = {
        "raw": raw, "normalized": normalized, "smooth_es": smooth_es, "smooth_2d": smooth_2d,
        "smooth_3d": smooth_3d,
        "filament_mask": filaments.filament_filter_3d(smooth_es, scales=[(1.0, 0.01)]),
        "spot_mask_2d": spots.spot_filter_2d(smooth_2d, scales=[(1.0, 0.01)]),
        "golgi_mask": thresholds.masked_object_threshold(smooth_3d, method="triangle", min_size=1200,
                                                         local_adjust=0.98, dilate=True),
        "dot_mask": morphology.remove_small_objects(spots.spot_filter_3d(smooth_2d, scales=[(1.0, 0.04)]),
                                                    min_size=3),
    }
    for name, array in arrays.items():
        np.save(paths[name], array)
    return paths


# ----------------------------------------------------------------------------------------------
# the child: one block, one implementation, one process
# ----------------------------------------------------------------------------------------------

def _memory_status(field: str) -> int:
    """VmRSS (now) or VmHWM (peak) of this process in bytes, from /proc/self/status.

    VmHWM belongs to this process's own address space; getrusage's ru_maxrss would also carry
    the parent's peak across exec on Linux.
    """
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not found in /proc/self/status")


def child(impl: str, blocks: str, params: dict, inputs: list[str], repeats: int) -> dict:
    arrays = {Path(p).stem: np.load(p) for p in inputs}
    names = [Path(p).stem for p in inputs]
    if impl == "ours":
        sys.path.insert(0, str(ROOT / "tests"))
        from test_golden_parity import run_ours

        def call(block, x):
            return run_ours(block, params, x)

        # warm-up on a small crop: loads (or compiles, the first time ever) the numba kernels
        small = [arrays[n][:8, :64, :64].copy() for n in names]
        started = time.perf_counter()
        _run_chain(call, blocks, small)
        warm_up = time.perf_counter() - started
    else:
        sys.path.insert(0, str(ROOT / "tests" / "goldens"))
        import contextlib
        import io as _io

        from make_goldens import run_block

        def call(block, x):
            with contextlib.redirect_stdout(_io.StringIO()):  # the reference prints
                return run_block(block, params, {str(i): a for i, a in enumerate(x)},
                                 [str(i) for i in range(len(x))])
        warm_up = None
    best, rss_before = np.inf, None
    for _ in range(repeats):
        x = [arrays[n].copy() for n in names]  # the reference edits its input: a fresh copy each time
        if rss_before is None:
            rss_before = _memory_status("VmRSS")
        started = time.perf_counter()
        _run_chain(call, blocks, x)
        best = min(best, time.perf_counter() - started)
        del x
    peak = _memory_status("VmHWM")
    return {"wall_s": best, "peak_gb": peak / 1e9, "increase_gb": max(0, peak - rss_before) / 1e9,
            "warm_up_s": warm_up}


def _run_chain(call, blocks: str, x: list):
    """One block, or two joined by '+': the second gets (first input's mask, first output)."""
    steps = blocks.split("+")
    if len(steps) == 1:
        return call(steps[0], x)
    if steps[0] == "masked_object_threshold_low":
        low = call(steps[0], x)
        return call(steps[1], [x[0], low])
    maxima = call(steps[0], x)  # find_local_maxima(image, mask)
    return call(steps[1], [x[1], maxima])  # cut_touching_objects(mask, seeds)


# ----------------------------------------------------------------------------------------------
# the parent
# ----------------------------------------------------------------------------------------------

def _measure(python: str, impl: str, blocks, params, input_paths, repeats) -> dict | None:
    command = [python, __file__, "--child", impl, "--blocks", blocks, "--params", json.dumps(params),
               "--repeats", str(repeats), "--inputs", *map(str, input_paths)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        print(f"  {impl} failed: {result.stderr.strip().splitlines()[-1] if result.stderr else '?'}", flush=True)
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])


def _versions(python: str) -> str:
    code = ("import numpy, scipy, skimage; import importlib.metadata as m; "
            "print(f'numpy {numpy.__version__}, scipy {scipy.__version__}, scikit-image {skimage.__version__}' + "
            "''.join(f', {p} {m.version(p)}' for p in ('numba', 'aicssegmentation', 'itk') "
            "if __import__('importlib.util').util.find_spec(p.split('-')[0]) ))")
    result = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return result.stdout.strip() or "?"


def _fmt(value, digits=2):
    return "-" if value is None else f"{value:.{digits}f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=str(ROOT / ".reference-env" / "bin" / "python"),
                        help="Python of the reference environment (skipped if missing)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="substrings of benchmark names to run")
    parser.add_argument("--write-sample", metavar="PATH",
                        help="write a small 30 x 192 x 192 field as an OME-TIFF sample and exit")
    parser.add_argument("--child", choices=["ours", "reference"])
    parser.add_argument("--blocks")
    parser.add_argument("--params")
    parser.add_argument("--inputs", nargs="*")
    args = parser.parse_args(argv)

    if args.write_sample:
        from helpers import io

        io.write_image(args.write_sample, make_field((30, 192, 192), seed=1), voxel_size=(0.29, 0.108, 0.108))
        return 0
    if args.child:
        print(json.dumps(child(args.child, args.blocks, json.loads(args.params), args.inputs, args.repeats)))
        return 0

    paths = prepare_inputs()
    reference = args.reference if Path(args.reference).exists() else None
    rows = []
    for name, (blocks, params, inputs, target_s, target_gb) in BENCHMARKS.items():
        if args.only and not any(s.lower() in name.lower() for s in args.only):
            continue
        input_paths = [paths[i] for i in inputs]
        ours = _measure(sys.executable, "ours", blocks, params, input_paths, args.repeats)
        ref = (_measure(reference, "reference", blocks, params, input_paths, 1 if blocks in
                        ("edge_preserving", "filament_filter_3d", "filament_filter_2d") else args.repeats)
               if reference else None)
        row = {"name": name, "blocks": blocks, "ours": ours, "reference": ref, "target_s": target_s,
               "target_gb": target_gb}
        met = []
        if ours and target_s is not None:
            met.append(ours["wall_s"] <= target_s)
        if ours and target_gb is not None:
            met.append(ours["peak_gb"] <= target_gb)
        if ours and ref and target_s is None:  # "no slower than the reference"
            met.append(ours["wall_s"] <= ref["wall_s"] * 1.05)
        row["met"] = all(met) if met else None
        rows.append(row)
        print(f"{name:48s} ours {_fmt(ours and ours['wall_s'])} s / {_fmt(ours and ours['peak_gb'])} GB   "
              f"reference {_fmt(ref and ref['wall_s'])} s / {_fmt(ref and ref['peak_gb'])} GB", flush=True)
    _write(rows, reference, args)
    return 0


def _write(rows, reference, args) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_building_blocks.py" + (f" --reference {reference}" if reference else "")
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    meta = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine,
            "shape": SHAPE, "ours_versions": _versions(sys.executable),
            "reference_versions": _versions(reference) if reference else None, "repeats": args.repeats}
    (RESULTS / "building_blocks.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    lines = [
        "# Building blocks: speed and peak memory, ours vs the reference",
        "",
        f"Field {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} uint16 (synthetic, see the script). {meta['date']}, {machine}.",
        f"Command: `{command}`. Wall time: best of {args.repeats} (reference F3/F2/ES: 1 run).",
        f"Ours: {meta['ours_versions']}. Reference: {meta['reference_versions'] or 'not run'}.",
        "Peak = the child process's maximum resident memory (input included); increase = peak minus the",
        "resident memory just before the call. First call = our warm-up on a small crop (loads the",
        "cached compiled kernels; the very first run after installation also compiles them).",
        "",
        "| block | ours s | ref s | speed-up | ours peak GB (increase) | ref peak GB (increase) | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours, ref = row["ours"] or {}, row["reference"] or {}
        speedup = (f"{ref['wall_s'] / ours['wall_s']:.1f}x" if ours.get("wall_s") and ref.get("wall_s") else "-")
        target = []
        if row["target_s"] is not None:
            target.append(f"<= {row['target_s']:g} s")
        if row["target_gb"] is not None:
            target.append(f"<= {row['target_gb']:g} GB")
        if not target:
            target.append("no slower than ref")
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        lines.append(
            f"| {row['name']} | {_fmt(ours.get('wall_s'))} | {_fmt(ref.get('wall_s'))} | {speedup} | "
            f"{_fmt(ours.get('peak_gb'))} ({_fmt(ours.get('increase_gb'))}) | "
            f"{_fmt(ref.get('peak_gb'))} ({_fmt(ref.get('increase_gb'))}) | {', '.join(target)} | {met} |")
    (RESULTS / "building_blocks.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS / 'building_blocks.md'}")


if __name__ == "__main__":
    sys.exit(main())
