"""The sample files on disk: writing the samples, the lamin B1 set and a manifest; finding them again.

Layout of a samples folder (``data_samples/`` in the repository)::

    <name>.ome.tif              the image, uint16, with its voxel size
    <name>_truth.ome.tif        the ground truth: uint8 0/255, or uint16 labels for countable objects
    lamin_b1_set/field_NN.ome.tif, field_NN_truth.ome.tif, nuclei.csv
    manifest.json               what each file is and how it was made (pattern, seed, shape, version)

Files are written atomically and an existing file is never replaced unless ``overwrite=True``.
"""

from __future__ import annotations

import csv
import io as _io
import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .. import __version__
from .._atomic import atomic_path, write_json
from ..io import read_image, write_image, write_mask
from . import PATTERNS, SAMPLE_SHAPE, make_sample, pattern_names
from .lamin_set import LAMIN_SET_SHAPE, make_lamin_set

__all__ = ["write_samples", "sample_paths", "read_sample", "LAMIN_SET_FOLDER", "MANIFEST"]

LAMIN_SET_FOLDER = "lamin_b1_set"
MANIFEST = "manifest.json"
TRUTH_SUFFIX = "_truth"


def sample_paths(name: str, folder) -> tuple[Path, Path]:
    """(image, truth) paths of a structure's sample in ``folder``.

    Raises FileNotFoundError, naming the command that makes the samples, when either is missing.
    """
    folder = Path(folder)
    image, truth = folder / f"{name}.ome.tif", folder / f"{name}{TRUTH_SUFFIX}.ome.tif"
    for path in (image, truth):
        if not path.exists():
            raise FileNotFoundError(
                f"{path} does not exist. Make the samples with `segmenter samples {folder}` "
                "(or check the folder name)."
            )
    return image, truth


def _write_truth(path: Path, truth: np.ndarray, voxel_size, overwrite: bool) -> None:
    if truth.dtype == bool:
        write_mask(path, truth, voxel_size=voxel_size, overwrite=overwrite)
    else:
        if truth.max() > np.iinfo(np.uint16).max:
            raise RuntimeError("more than 65535 labelled objects")  # cannot happen at sample sizes
        write_image(path, truth.astype(np.uint16), voxel_size=voxel_size, overwrite=overwrite)


def _refuse_existing(paths, overwrite: bool) -> None:
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{len(existing)} file(s) already exist and were left untouched (first: {existing[0]}). "
            "Write to another folder, or pass overwrite=True (`--overwrite`) to replace them."
        )


def write_samples(folder, *, names=None, seed: int = 0, shape=SAMPLE_SHAPE, lamin_set: bool = True,
                  lamin_count: int = 12, lamin_shape=LAMIN_SET_SHAPE, overwrite: bool = False,
                  progress=None) -> list[Path]:
    """Draw the samples and write them, with a manifest, to ``folder``.

    Parameters
    ----------
    folder : str or os.PathLike
        Created if missing.
    names : sequence of str, optional
        Patterns to write (all 20 by default).
    seed : int
        The same seed gives the same files' pixel data.
    shape : (Z, Y, X) ints
        Size of each structure sample.
    lamin_set : bool
        Also write the lamin B1 set for the deep-learning demo.
    lamin_count, lamin_shape :
        Number and size of the lamin B1 fields.
    overwrite : bool
        Replace existing files (off by default; nothing is written when any target exists).
    progress : callable(str), optional
        Called with each file's name before it is drawn (e.g. ``print``).

    Returns
    -------
    list of pathlib.Path
        The written files, the manifest last.
    """
    folder = Path(folder)
    names = pattern_names() if names is None else list(names)
    unknown = [n for n in names if n not in PATTERNS]
    if unknown:
        raise ValueError(f"No synthetic pattern named {unknown[0]!r}. Choose from: {', '.join(pattern_names())}.")
    targets = [p for n in names for p in (folder / f"{n}.ome.tif", folder / f"{n}{TRUTH_SUFFIX}.ome.tif")]
    lamin_folder = folder / LAMIN_SET_FOLDER
    if lamin_set:
        targets += [lamin_folder / f"field_{i + 1:02d}{s}.ome.tif" for i in range(lamin_count) for s in ("", TRUTH_SUFFIX)]
        targets.append(lamin_folder / "nuclei.csv")
    _refuse_existing(targets, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / MANIFEST
    command = f"segmenter samples {folder} --seed {seed} --shape {' '.join(str(int(n)) for n in shape)}"
    manifest = {"generator": f"helpers.synthetic {__version__}", "seed": int(seed), "command": command,
                "samples": {}}
    if manifest_path.exists():  # keep the entries of samples not rewritten now
        manifest["samples"] = json.loads(manifest_path.read_text()).get("samples", {})
    written: list[Path] = []
    for name in names:
        if progress:
            progress(name)
        sample = make_sample(name, shape=shape, seed=seed)
        image_path, truth_path = folder / f"{name}.ome.tif", folder / f"{name}{TRUTH_SUFFIX}.ome.tif"
        write_image(image_path, sample.image, voxel_size=sample.voxel_size, overwrite=overwrite)
        _write_truth(truth_path, sample.truth, sample.voxel_size, overwrite)
        written += [image_path, truth_path]
        pattern = PATTERNS[name]
        manifest["samples"][name] = {
            "image": image_path.name, "truth": truth_path.name, "title": pattern.title,
            "description": pattern.description, "shape": list(sample.image.shape),
            "voxel_size_um": list(sample.voxel_size), "seed": int(seed),
            "truth_kind": "mask" if sample.truth.dtype == bool else "labels",
        }
    if lamin_set:
        if progress:
            progress(LAMIN_SET_FOLDER)
        lamin_folder.mkdir(exist_ok=True)
        rows = []
        for index, field in enumerate(make_lamin_set(count=lamin_count, shape=lamin_shape, seed=seed), start=1):
            image_path = lamin_folder / f"field_{index:02d}.ome.tif"
            truth_path = lamin_folder / f"field_{index:02d}{TRUTH_SUFFIX}.ome.tif"
            write_image(image_path, field.image, voxel_size=field.voxel_size, overwrite=overwrite)
            _write_truth(truth_path, field.truth, field.voxel_size, overwrite)
            written += [image_path, truth_path]
            rows += [{"field": image_path.name, **asdict(nucleus)} for nucleus in field.nuclei]
        table = lamin_folder / "nuclei.csv"
        buffer = _io.StringIO()
        columns = list(rows[0]) if rows else ["field"]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        with atomic_path(table) as temporary:
            Path(temporary).write_text(buffer.getvalue())
        written.append(table)
        manifest["lamin_b1_set"] = {"folder": LAMIN_SET_FOLDER, "fields": lamin_count, "shape": list(lamin_shape),
                                    "nuclei_table": "nuclei.csv", "seed": int(seed)}
    write_json(manifest_path, manifest)
    written.append(manifest_path)
    return written


def read_sample(name: str, folder):
    """(image, truth) of a written sample as :class:`helpers.io.Image` objects."""
    image_path, truth_path = sample_paths(name, folder)
    return read_image(image_path), read_image(truth_path)
