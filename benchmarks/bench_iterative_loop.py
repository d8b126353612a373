"""The iterative deep-learning loop on the lamin B1 set: what each iteration gains, and how long it takes.

Runs ``notebooks/deep_learning/0_iterative_loop.ipynb`` top to bottom, headless, in a fresh folder (the
notebook's layout recreated there, so nothing is written into the repository), with its recorded
curation decisions; then reads the ``scores.json`` it writes and records per iteration the paper's
measures on the 12 training fields and on the held-out fields, with the run time of the whole loop.

    python benchmarks/bench_iterative_loop.py            # the full loop (about 15-20 min on 2 CPU cores)
    python benchmarks/bench_iterative_loop.py --quick    # the notebook's quick mode, as CI runs it

Results: ``benchmarks/results/iterative_loop{,_quick}.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "deep_learning" / "0_iterative_loop.ipynb"
SHIPPED_BESIDE = ("lamin_b1_curation",)
sys.path.insert(0, str(ROOT))

from helpers.synthetic import lamin_scores  # noqa: E402

PAPER = ("The paper (Chen et al., Allen Cell Structure Segmenter): classic interphase workflow 85 % of "
         "interphase nuclei, every nucleus in 20 % of fields; model 1: 100 % of interphase nuclei, 100 % of "
         "interphase fields; model 2 also segments the mitotic cells.")


def run(quick: bool) -> dict:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = cell.source.replace("QUICK = False", f"QUICK = {quick}")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "notebooks" / "deep_learning"
        work.mkdir(parents=True)
        os.symlink(ROOT / "data_samples", Path(scratch) / "data_samples")
        for name in SHIPPED_BESIDE:
            os.symlink(NOTEBOOK.parent / name, work / name)
        os.environ.setdefault("MPLBACKEND", "Agg")
        started = time.perf_counter()
        NotebookClient(notebook, timeout=7200, kernel_name="python3",
                       resources={"metadata": {"path": str(work)}}).execute()
        seconds = time.perf_counter() - started
        scores = json.loads((work / "loop" / "scores.json").read_text())
        histories = {}
        for model in ("model_1", "model_2"):
            history = work / "loop" / model / "history.csv"
            histories[model] = history.read_text().strip().splitlines()[-1] if history.exists() else ""
    return {"quick": quick, "seconds": round(seconds, 1), "scores": scores["scores"],
            "held_out_shape": scores["held_out_shape"], "last_history_rows": histories,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "command": f"python benchmarks/bench_iterative_loop.py{' --quick' if quick else ''}"}


def markdown(result: dict) -> str:
    lines = [f"# The iterative deep-learning loop on the lamin B1 set{' (quick mode)' if result['quick'] else ''}",
             "", f"Command: `{result['command']}` · machine: {result['machine']} · whole loop "
             f"(notebook top to bottom): **{result['seconds']:.0f} s**", "", PAPER, ""]
    for where, title in (("training fields", "The 12 curated fields (40 x 128 x 128), which the models learn from"),
                         ("held-out", f"Held-out fields ({' x '.join(map(str, result['held_out_shape']))}, seed 1, never curated)")):
        lines += [f"## {title}", "",
                  lamin_scores.summary_table({name: s[where] for name, s in result["scores"].items()}), ""]
    lines += ["A nucleus is found when at least half of its true envelope lies within one voxel of the "
              "segmentation and at least half of the segmentation nearest to it lies within one voxel of an "
              "envelope; nuclei are counted in the field that holds their centre.", ""]
    if result["quick"]:
        lines += ["Quick mode trains tiny networks for a few iterations: it checks that every step runs; its "
                  "model numbers mean nothing.", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the notebook's quick mode (as CI runs it)")
    args = parser.parse_args()
    result = run(args.quick)
    name = "iterative_loop_quick" if args.quick else "iterative_loop"
    out = ROOT / "benchmarks" / "results"
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
