"""The project's set-up files agree with each other, and the console script works."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np

from helpers import cli, io

ROOT = Path(__file__).resolve().parents[1]
#: conda-forge names that differ from PyPI names.
CONDA_TO_PYPI = {"pytorch": "torch"}


def _requirement(spec: str) -> tuple[str, str]:
    match = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", spec)
    name, constraint = match.group(1).lower(), match.group(2).replace(" ", "")
    return CONDA_TO_PYPI.get(name, name), constraint


def _environment_dependencies() -> dict[str, str]:
    deps, in_deps = {}, False
    for line in (ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_deps = True
            continue
        if in_deps and re.match(r"^  - [^ ]", line) and not line.strip().startswith("- pip"):
            name, constraint = _requirement(line.strip()[2:])
            if name not in {"python", "pip"}:
                deps[name] = constraint
    return deps


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = dict(_requirement(spec) for spec in project["dependencies"])
    assert _environment_dependencies() == pyproject
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"]["segmenter"] == "helpers.cli:main"


def test_readme_test_command_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make lab" in readme
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)


def test_console_script_reports_version_and_image_info(tmp_path, capsys):
    data = (np.arange(4 * 10 * 12) % 500 + 100).reshape(4, 10, 12).astype(np.uint16)
    io.write_image(tmp_path / "cells.ome.tif", data, voxel_size=(0.29, 0.108, 0.108))
    assert cli.main(["info", str(tmp_path / "cells.ome.tif")]) == 0
    out = capsys.readouterr().out
    assert "4 x 10 x 12 (Z, Y, X)" in out and "0.29 x 0.108 x 0.108 um" in out
    assert "suggested auto-contrast: lower_sd=" in out


def test_console_script_errors_are_one_clear_line(tmp_path, capsys):
    assert cli.main(["info", str(tmp_path / "missing.tif")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("segmenter: error: No such file") and err.count("\n") == 1


def test_installed_entry_point_runs():
    segmenter = Path(sys.executable).with_name("segmenter")
    result = subprocess.run([str(segmenter), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("segmenter ")
