"""The analysis notebooks in full mode: how long each takes and the numbers it reports.

Runs every notebook of ``notebooks/analysis/`` (or those named) top to bottom, headless, with
``QUICK = False`` (or ``--quick``), each in a fresh temporary folder that recreates the notebook's layout
(``notebooks/analysis/`` beside ``data_samples/``), so nothing is written into the repository. Records
the wall time of each notebook and every line it printed that carries a score (Dice, IoU, F1, ...),
which are the figures quoted in the README.

    python benchmarks/bench_analysis.py                           # all, full mode (about 25 min on 2 cores)
    python benchmarks/bench_analysis.py membranes ensembles       # some of them
    python benchmarks/bench_analysis.py --quick                   # quick mode, as CI runs them

Results: ``benchmarks/results/analysis_runs{,_quick}.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "notebooks" / "analysis"
#: A printed line is a result when it names one of these (case-insensitive) and holds a number.
RESULT_WORDS = re.compile(r"dice|iou|f1|precision|recall|objects|cells|chromosome|ensemble|seeds?\b|best|"
                          r"grey levels|volume|pca|decided|grid in", re.IGNORECASE)


def _set_quick(notebook, quick: bool) -> None:
    for cell in notebook.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            cell.source = re.sub(r"(?m)^QUICK = (True|False)", f"QUICK = {quick}", cell.source)


def run_notebook(path: Path, quick: bool) -> dict:
    notebook = nbformat.read(path, as_version=4)
    _set_quick(notebook, quick)
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "notebooks" / "analysis"
        work.mkdir(parents=True)
        os.symlink(ROOT / "data_samples", Path(scratch) / "data_samples")
        os.environ.setdefault("MPLBACKEND", "Agg")
        started = time.perf_counter()
        error = None
        try:
            NotebookClient(notebook, timeout=3600, kernel_name="python3",
                           resources={"metadata": {"path": str(work)}}).execute()
        except Exception as failure:  # record it and go on with the other notebooks
            error = f"{type(failure).__name__}: {str(failure).splitlines()[0] if str(failure) else ''}"
        seconds = time.perf_counter() - started
    text = "".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    lines = [line.rstrip() for line in text.splitlines()
             if RESULT_WORDS.search(line) and re.search(r"\d", line) and len(line) < 200]
    return {"notebook": path.name, "quick": quick, "seconds": round(seconds, 1), "error": error, "results": lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="notebook names without .ipynb (default: all in notebooks/analysis)")
    parser.add_argument("--quick", action="store_true", help="run with QUICK = True, as CI does")
    arguments = parser.parse_args()
    paths = sorted(FOLDER.glob("*.ipynb"))
    if arguments.names:
        known = {p.stem: p for p in paths}
        missing = [n for n in arguments.names if n not in known]
        if missing:
            parser.error(f"no notebook {missing} in {FOLDER}; choose from {sorted(known)}")
        paths = [known[n] for n in arguments.names]
    runs = []
    for path in paths:
        print(f"running {path.name} ({'quick' if arguments.quick else 'full'} mode) ...", flush=True)
        outcome = run_notebook(path, arguments.quick)
        print(f"  {outcome['seconds']:.0f} s" + (f", FAILED: {outcome['error']}" if outcome["error"] else ""))
        for line in outcome["results"]:
            print(f"  | {line}")
        runs.append(outcome)
    stem = "analysis_runs_quick" if arguments.quick else "analysis_runs"
    results = ROOT / "benchmarks" / "results"
    record = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "machine": platform.platform(),
              "cpu_count": os.cpu_count(), "command": "python benchmarks/bench_analysis.py "
              + " ".join(arguments.names + (["--quick"] if arguments.quick else [])), "runs": runs}
    previous = results / f"{stem}.json"
    if previous.exists() and arguments.names:  # keep the other notebooks' last results
        kept = {r["notebook"]: r for r in json.loads(previous.read_text()).get("runs", [])}
        kept.update({r["notebook"]: r for r in runs})
        record["runs"] = [kept[name] for name in sorted(kept)]
    previous.write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"# Analysis notebooks, {'quick' if arguments.quick else 'full'} mode", "",
             f"`{record['command']}` on {record['machine']} ({record['cpu_count']} CPUs), {record['date']}.",
             "Each notebook ran top to bottom in a fresh folder; below, its wall time and the lines it printed "
             "that carry a result.", ""]
    for run in record["runs"]:
        status = f"FAILED: {run['error']}" if run["error"] else "ok"
        lines += [f"## {run['notebook']}: {run['seconds']:.0f} s, {status}", "", "```", *run["results"], "```", ""]
    (results / f"{stem}.md").write_text("\n".join(lines))
    print(f"wrote {results / (stem + '.md')}")


if __name__ == "__main__":
    main()
