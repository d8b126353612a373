"""Speed and peak memory of the 20 lookup-table presets, ours against the reference.

    python benchmarks/bench_presets.py [--reference REF_PYTHON] [--impl ours|reference|both] [--only NAME ...]

Runs every preset on one synthetic 65 x 600 x 900 uint16 field (``make_field`` of
bench_building_blocks.py: filaments, dots, Golgi-like clusters on uneven background with camera
noise; a generic field, not one made for each structure) in a fresh child process per preset and
implementation: ours is ``helpers.workflow.run(load_preset(name), image)`` with this interpreter, the
reference's is ``aicssegmentation.structure_wrapper.seg_<name>.Workflow_<name>(image.astype(float32),
output_type="array")`` with ``REF_PYTHON`` (aicssegmentation 0.5.3, see
tests/goldens/make_reference_env.sh). Wall time is one run of the whole workflow (input loaded
before the clock starts); peak memory is the child's VmHWM (whole process, input included). Our
compiled kernels are warmed up on a small crop first (numba caches them on disk, so a user pays the
compile cost once per installation). The reference's thinning (ST6GAL1) is seeded as in the goldens.

Each child also stores its mask (bit-packed) in benchmarks/_scratch, so the table reports how many
voxels of the full field differ between ours and the reference.

``--impl`` runs one side only and merges it into the existing results, so the slow reference side
(about 15 minutes) can run once, separately. Results go to benchmarks/results/presets.md and .json,
with the command, the machine, the package versions and the targets: each preset at least 5x faster
than the reference, all 20 of ours within 160 s together, every peak within 2.5 GB.
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_building_blocks import SHAPE, _fmt, _memory_status, _versions, make_field  # noqa: E402

#: The 20 presets, in lookup-table order (the reference's structure_wrapper names).
PRESETS = ["sec61b", "tomm20", "lmnb1_mitotic", "tuba1b", "actb", "myh10", "actn1", "tjp1",
           "cardio_tnni1", "cardio_ttn", "dsp", "cetn2", "slc25a17", "gja1", "ctnnb1", "lamp1",
           "fbl", "npm1", "st6gal1", "lmnb1_interphase"]
TARGET_SPEEDUP = 5.0
TARGET_TOTAL_S = 160.0
TARGET_PEAK_GB = 2.5
RAW = SCRATCH / "raw.npy"


def _mask_path(impl: str, name: str) -> Path:
    return SCRATCH / f"preset_mask_{impl}_{name}.npy"


def _run_reference(name: str, image: np.ndarray) -> np.ndarray:
    import contextlib
    import functools
    import importlib
    import io as _io

    from skimage.morphology import medial_axis

    from aicssegmentation.core import utils as ref_utils

    ref_utils.medial_axis = functools.partial(medial_axis, rng=0)  # seeded thinning, as the goldens
    module = importlib.import_module(f"aicssegmentation.structure_wrapper.seg_{name}")
    workflow = getattr(module, f"Workflow_{name}")
    with contextlib.redirect_stdout(_io.StringIO()):  # the reference prints
        return workflow(image.astype(np.float32), output_type="array") > 0


def child(impl: str, name: str) -> dict:
    raw = np.load(RAW)
    warm_up = None
    if impl == "ours":
        from helpers.workflow import load_preset, run

        workflow = load_preset(name)
        started = time.perf_counter()
        try:  # loads (or compiles, the first time ever) the numba kernels
            run(workflow, raw[:16, :160, :160].copy())
        except ValueError:
            pass  # e.g. no nucleus in the crop: the kernels are loaded all the same
        warm_up = time.perf_counter() - started

        def call(image):
            return np.asarray(run(workflow, image).mask, dtype=bool)
    else:
        def call(image):
            return _run_reference(name, image)
    rss_before = _memory_status("VmRSS")
    started = time.perf_counter()
    mask = call(raw)
    wall = time.perf_counter() - started
    peak = _memory_status("VmHWM")
    np.save(_mask_path(impl, name), np.packbits(mask.ravel()))
    return {"wall_s": wall, "peak_gb": peak / 1e9, "increase_gb": max(0, peak - rss_before) / 1e9,
            "warm_up_s": warm_up, "mask_voxels": int(mask.sum())}


def _measure(python: str, impl: str, name: str) -> dict | None:
    command = [python, __file__, "--child", impl, "--preset", name]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "?"
        print(f"  {impl} {name} failed: {tail}", flush=True)
        return {"error": tail}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _differing(name: str) -> int | None:
    paths = [_mask_path(impl, name) for impl in ("ours", "reference")]
    if not all(p.exists() for p in paths):
        return None
    a, b = (np.unpackbits(np.load(p)) for p in paths)
    return int(np.count_nonzero(a != b))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference", default=str(ROOT / ".reference-env" / "bin" / "python"),
                        help="Python of the reference environment (its side is skipped if missing)")
    parser.add_argument("--impl", choices=["ours", "reference", "both"], default="both")
    parser.add_argument("--only", nargs="*", default=None, help="preset names to run")
    parser.add_argument("--child", choices=["ours", "reference"])
    parser.add_argument("--preset")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.preset)))
        return 0

    SCRATCH.mkdir(parents=True, exist_ok=True)
    if not RAW.exists():
        np.save(RAW, make_field())
    reference = args.reference if Path(args.reference).exists() else None
    previous = {}
    if (RESULTS / "presets.json").exists():
        previous = {row["name"]: row for row in json.loads((RESULTS / "presets.json").read_text())["rows"]}
        old_meta = json.loads((RESULTS / "presets.json").read_text())["meta"]
    else:
        old_meta = {}
    sides = {"both": ["ours", "reference"]}.get(args.impl, [args.impl])
    names = [n for n in PRESETS if not args.only or n in args.only]
    for name in names:
        row = previous.get(name, {"name": name, "ours": None, "reference": None})
        if "ours" in sides:
            row["ours"] = _measure(sys.executable, "ours", name)
        if "reference" in sides and reference:
            row["reference"] = _measure(reference, "reference", name)
        previous[name] = row
        ours, ref = row.get("ours") or {}, row.get("reference") or {}
        print(f"{name:18s} ours {_fmt(ours.get('wall_s'))} s / {_fmt(ours.get('peak_gb'))} GB   "
              f"reference {_fmt(ref.get('wall_s'))} s / {_fmt(ref.get('peak_gb'))} GB", flush=True)
        _write([previous[n] for n in PRESETS if n in previous], reference, sides, old_meta)
    return 0


def _write(rows, reference, sides, old_meta) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = " ".join(["python benchmarks/bench_presets.py", *sys.argv[1:]])
    meta = dict(old_meta)
    meta.update({"machine": machine, "shape": SHAPE, "targets": {
        "speedup_min": TARGET_SPEEDUP, "ours_total_s_max": TARGET_TOTAL_S, "peak_gb_max": TARGET_PEAK_GB}})
    if "ours" in sides:
        meta["ours_date"], meta["ours_versions"] = now, _versions(sys.executable)
        meta["ours_command"] = command
    if "reference" in sides and reference:
        meta["reference_date"], meta["reference_versions"] = now, _versions(reference)
        meta["reference_command"] = command
    total_ours = total_ref = 0.0
    complete = True
    for row in rows:
        ours, ref = row.get("ours") or {}, row.get("reference") or {}
        row["differing_voxels"] = _differing(row["name"])
        met = []
        if ours.get("wall_s") is not None and ref.get("wall_s") is not None:
            row["speedup"] = ref["wall_s"] / ours["wall_s"]
            met.append(row["speedup"] >= TARGET_SPEEDUP)
        if ours.get("peak_gb") is not None:
            met.append(ours["peak_gb"] <= TARGET_PEAK_GB)
        row["met"] = all(met) if len(met) == 2 else None
        if ours.get("wall_s") is None or ref.get("wall_s") is None:
            complete = False
        total_ours += ours.get("wall_s") or 0.0
        total_ref += ref.get("wall_s") or 0.0
    meta["total_ours_s"], meta["total_reference_s"] = total_ours, total_ref
    meta["complete"] = complete and len(rows) == len(PRESETS)
    (RESULTS / "presets.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    total_met = "yes" if meta["complete"] and total_ours <= TARGET_TOTAL_S else ("NO" if meta["complete"] else "-")
    lines = [
        "# The 20 presets: speed and peak memory, ours vs the reference",
        "",
        f"Field {SHAPE[0]} x {SHAPE[1]} x {SHAPE[2]} uint16 (synthetic, `make_field` of bench_building_blocks.py). "
        f"{machine}.",
        f"Ours: `{meta.get('ours_command', '-')}`, {meta.get('ours_date', 'not run')}, "
        f"{meta.get('ours_versions', '-')}.",
        f"Reference: `{meta.get('reference_command', '-')}`, {meta.get('reference_date', 'not run')}, "
        f"{meta.get('reference_versions', '-')}.",
        "(One side can be run alone with `--impl ours` or `--impl reference`; results are merged.)",
        "Wall time: one run of the whole workflow, input already loaded. Peak = the child process's",
        "maximum resident memory (input included). Differing = voxels where our mask and the",
        "reference's differ on this field. Our first call on a small crop (warm-up) is not timed.",
        f"Targets: every preset >= {TARGET_SPEEDUP:g}x faster and peak <= {TARGET_PEAK_GB:g} GB; "
        f"all 20 of ours <= {TARGET_TOTAL_S:g} s.",
        "",
        "| preset | ours s | ref s | speed-up | ours peak GB | ref peak GB | mask voxels (ref) | differing | met |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ours, ref = row.get("ours") or {}, row.get("reference") or {}
        speedup = f"{row['speedup']:.1f}x" if row.get("speedup") else "-"
        diff = "-" if row["differing_voxels"] is None else str(row["differing_voxels"])
        met = {True: "yes", False: "NO", None: "-"}[row["met"]]
        if "error" in ours:
            met = "failed"
        lines.append(
            f"| {row['name']} | {_fmt(ours.get('wall_s'))} | {_fmt(ref.get('wall_s'))} | {speedup} | "
            f"{_fmt(ours.get('peak_gb'))} | {_fmt(ref.get('peak_gb'))} | {ref.get('mask_voxels', '-')} | "
            f"{diff} | {met} |")
    lines.append(f"| **all 20** | {total_ours:.1f} | {total_ref:.1f} | "
                 f"{(total_ref / total_ours if total_ours else 0):.1f}x | | | | | total <= {TARGET_TOTAL_S:g} s: "
                 f"{total_met} |")
    (RESULTS / "presets.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
