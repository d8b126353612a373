"""Slider change to updated preview: how long the tuning panel takes to redraw, for every preset.

    python benchmarks/bench_preview.py [--only NAME ...] [--repeats 3] [--large]

For each preset, a TuningPanel is built on the structure's sample in data_samples/ (40 x 192 x 192,
previewed whole), and a control is moved back and forth as a user's slider would move it (the
widget's value is set, which runs the panel's handler: the partial recompute, the three preview
images, the PNG and the status line). Three kinds of change are timed:

- core: the cutoff (or main parameter) of the first core step, the usual first slider to move;
- first: a parameter of the first step, which recomputes every step (the worst case);
- last: a parameter of the last step with parameters (usually the size filter; the cheapest).

Each change alternates between two values that are not in the panel's step cache, so every timing is
a real recompute. The median of ``--repeats`` changes is recorded. ``--large`` adds a 65 x 600 x 900
field (bench_building_blocks.make_field), previewed on the default middle slab.
Target: slider change to updated preview within 1 s on the samples. Results go to
benchmarks/results/preview.md and .json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_S = 1.0


def _pick(panel, kind):
    """(step id, parameter, control part, two values) for the kind of change."""
    from helpers.registry import get_algorithm

    steps = [s for s in panel.workflow.steps if s.id in panel._controls]
    if kind == "first":
        step = steps[0]
    elif kind == "last":
        step = steps[-1]
    else:
        step = next((s for s in steps if get_algorithm(s.algorithm).stage == "core"), steps[0])
    controls = panel._controls[step.id]
    # the cutoff of the first scale when there is one, else the first numeric slider
    for name, control in controls.items():
        if control.spec.kind == "scales":
            return step.id, name, control._parts[1]
    for name, control in controls.items():
        if control.spec.kind in ("float", "int"):
            return step.id, name, control._parts[0]
    name, control = next(iter(controls.items()))
    return step.id, name, control._parts[0]


def _values(part, count):
    """Up to ``count`` distinct values near the current one, inside the slider's range (fewer when the
    range is short, e.g. a connectivity of 1 to 3)."""
    start, step = part.value, part.step
    values, k = [], 1
    while len(values) < count and (start + k * step <= part.max or start - k * step >= part.min):
        for candidate in (start + k * step, start - k * step):
            if part.min <= candidate <= part.max and len(values) < count:
                values.append(type(start)(round(candidate, 6)))
        k += 1
    return values


def measure_panel(panel, repeats: int) -> dict:
    out = {}
    for kind in ("core", "first", "last"):
        step_id, name, part = _pick(panel, kind)
        original = part.value
        times = []
        for value in _values(part, repeats):
            started = time.perf_counter()
            part.value = value
            times.append(time.perf_counter() - started)
            if "b00020" in panel._status.value:
                raise RuntimeError(f"the panel reported an error: {panel._status.value}")
        part.value = original
        out[kind] = {"step": step_id, "parameter": name, "median_s": statistics.median(times), "max_s": max(times),
                     "recomputed": panel.preview.recomputed}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="preset names (default: all 20)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--large", action="store_true", help="also a 65 x 600 x 900 field on the default slab")
    args = parser.parse_args(argv)

    from helpers import __version__, io, regions, widgets, workflow

    names = args.only or workflow.preset_names()
    records = []
    started_all = time.perf_counter()
    for name in names:
        image = io.read_image(ROOT / "data_samples" / f"{name}.ome.tif")
        widgets.TuningPanel(name, image.data[:8, :64, :64])  # warm-up: numba compilation, imports
        started = time.perf_counter()
        panel = widgets.TuningPanel(name, image)
        build = time.perf_counter() - started
        record = {"preset": name, "image": "x".join(map(str, image.data.shape)),
                  "region": regions.describe(panel.region), "build_s": build, **measure_panel(panel, args.repeats)}
        records.append(record)
        print(f"{name:18s} build {build:5.2f} s  core {record['core']['median_s']:.3f} s  "
              f"first {record['first']['median_s']:.3f} s  last {record['last']['median_s']:.3f} s", flush=True)
    if args.large:
        from bench_building_blocks import make_field

        field = make_field()
        for name in ("sec61b", "tuba1b", "lmnb1_interphase"):
            started = time.perf_counter()
            panel = widgets.TuningPanel(name, field, voxel_size=(0.29, 0.108, 0.108))
            build = time.perf_counter() - started
            record = {"preset": name, "image": "x".join(map(str, field.shape)), "region": regions.describe(panel.region),
                      "build_s": build, **measure_panel(panel, args.repeats)}
            records.append(record)
            print(f"{name:18s} (large) build {build:5.2f} s  core {record['core']['median_s']:.3f} s  "
                  f"first {record['first']['median_s']:.3f} s  last {record['last']['median_s']:.3f} s", flush=True)
    seconds = time.perf_counter() - started_all
    command = "python benchmarks/bench_preview.py " + " ".join(argv if argv is not None else sys.argv[1:])
    import numpy

    header = (f"# Tuning panel: slider change to updated preview\n\n"
              f"`{command.strip()}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, helpers {__version__}, "
              f"{platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
              f"numpy {numpy.__version__}; {seconds:.0f} s in all.\n\n"
              "Time from setting a control's value (what a released slider does) to the new preview PNG and status, "
              "in the kernel; median of the repeats. core: the first core step's cutoff (or first slider); "
              "first: the first step's first slider (every step recomputed); last: the last step's first slider. "
              f"Target: within {TARGET_S:g} s on the samples.\n\n"
              "| preset | image | preview region | build s | core s | first s (all steps) | last s | met |\n"
              "|---|---|---|---|---|---|---|---|\n")
    rows = []
    for r in records:
        worst = max(r[k]["median_s"] for k in ("core", "first", "last"))
        met = "yes" if worst <= TARGET_S else "NO"
        rows.append(f"| {r['preset']} | {r['image']} | {r['region']} | {r['build_s']:.2f} | {r['core']['median_s']:.3f} "
                    f"({r['core']['step']}.{r['core']['parameter']}) | {r['first']['median_s']:.3f} | "
                    f"{r['last']['median_s']:.3f} | {met} |")
    sample_records = [r for r in records if r["image"] == "40x192x192"]
    summary = ""
    if sample_records:
        worst = max(max(r[k]["median_s"] for k in ("core", "first", "last")) for r in sample_records)
        summary = (f"\nOn the samples: the slowest change took {worst:.3f} s (median of {args.repeats}); "
                   f"{sum(max(r[k]['median_s'] for k in ('core', 'first', 'last')) <= TARGET_S for r in sample_records)}"
                   f" of {len(sample_records)} presets meet the 1 s target for every kind of change.\n")
    large = [r for r in records if r["image"] != "40x192x192"]
    if large:
        summary += (f"On the {large[0]['image']} field (previewed on the default slab, the target is for the "
                    f"samples): core changes {max(r['core']['median_s'] for r in large):.2f} s at most, last "
                    f"{max(r['last']['median_s'] for r in large):.2f} s, first-step changes (which normalize the "
                    f"whole image again) {max(r['first']['median_s'] for r in large):.2f} s.\n")
    text = header + "\n".join(rows) + "\n" + summary
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "preview.md").write_text(text)
    (RESULTS / "preview.json").write_text(json.dumps({"command": command, "records": records}, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
