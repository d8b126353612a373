"""Make the golden masks of the 20 lookup-table workflows with the reference implementation.

Run it with the reference environment's Python (see make_reference_env.sh), from the repository root:

    .reference-env/bin/python tests/goldens/make_workflow_goldens.py

It draws one small synthetic uint16 image per structure kind (3D filaments, ER/mitochondria-like
curvilinear tubes, nuclear shells, cell-junction lines, dots, lysosome rings and dots, nucleoli in
nuclei, Golgi clusters), runs each preset's reference workflow
``aicssegmentation.structure_wrapper.seg_<name>.Workflow_<name>(image.astype(float32), output_type="array")``
(aicssegmentation 0.5.3, scikit-image 0.25.2) on the image of its kind, and writes
``workflows.npz`` next to this script: the inputs (uint16), the masks (bit-packed) and a JSON manifest
(preset -> input kind, mask voxels, versions). tests/test_preset_parity.py runs our engine on the same
inputs. The reference's thinning (ST6GAL1) breaks ties at random; it is seeded here, as in
make_goldens.py. The script refuses to write a golden whose mask is empty or nearly everything, so
every preset is tested on a mask that means something.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

import skimage
from skimage.morphology import medial_axis

from aicssegmentation.core import utils as ref_utils

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from make_goldens import _draw_tube, _finish, make_shells  # noqa: E402
from make_goldens import make_dots as make_golden_dots  # noqa: E402

# The reference's thinning calls medial_axis without a seed (random tie-breaks); seed it.
ref_utils.medial_axis = functools.partial(medial_axis, rng=0)

#: preset (the reference's structure_wrapper name) -> input kind
PRESETS = {
    "sec61b": "curvilinear", "tomm20": "curvilinear", "lmnb1_mitotic": "shells",
    "tuba1b": "filaments", "actb": "filaments", "myh10": "filaments", "actn1": "filaments",
    "tjp1": "junctions", "cardio_tnni1": "filaments", "cardio_ttn": "filaments",
    "dsp": "dots", "cetn2": "dots", "slc25a17": "dots", "gja1": "dots", "ctnnb1": "junctions",
    "lamp1": "lysosomes", "fbl": "nucleoli", "npm1": "nucleoli", "st6gal1": "golgi",
    "lmnb1_interphase": "shells",
}


# ----------------------------------------------------------------------------------------------
# Synthetic inputs (uint16, spinning-disk-like: blurred geometry + background + Poisson noise)
# ----------------------------------------------------------------------------------------------

def make_filaments(rng, shape=(20, 112, 112)):
    """Straight and gently bent 3D fibres of several widths, a few parallel bundles."""
    signal = np.zeros(shape)
    for _ in range(26):
        start = rng.uniform([2, 0, 0], np.subtract(shape, [2, 1, 1]))
        end = rng.uniform([2, 0, 0], np.subtract(shape, [2, 1, 1]))
        end[0] = np.clip(start[0] + rng.normal(0, 3), 2, shape[0] - 3)
        _draw_tube(signal, start, end, rng.uniform(600, 1800), radius=rng.uniform(0.7, 2.2))
    for _ in range(3):  # bundles of parallel fibres (stress fibres, sarcomere-like striations)
        start = rng.uniform([4, 10, 10], [shape[0] - 4, shape[1] - 10, shape[2] - 10])
        direction = rng.normal(0, 1, 3) * [0, 1, 1]
        direction /= np.linalg.norm(direction)
        normal = np.array([0, -direction[2], direction[1]])
        for k in range(4):
            offset = start + normal * 4 * k
            _draw_tube(signal, offset - 30 * direction, offset + 30 * direction, 1200, radius=1.0)
    return _finish(rng, signal)


def make_curvilinear(rng, shape=(16, 112, 112)):
    """ER/mitochondria-like: a thin in-plane tubular network plus short worms, a few slices deep."""
    signal = np.zeros(shape)
    for _ in range(60):
        z = rng.uniform(3, shape[0] - 4)
        points = [np.array([z, *rng.uniform(0, shape[1], 2)])]
        for _ in range(rng.integers(2, 6)):  # a bent path of short segments
            step = rng.normal(0, 1, 3) * [0.05, 9, 9]
            points.append(np.clip(points[-1] + step, [1, 0, 0], np.subtract(shape, [2, 1, 1])))
        value, radius = rng.uniform(500, 1500), rng.uniform(0.6, 1.4)
        for a, b in zip(points[:-1], points[1:]):
            _draw_tube(signal, a, b, value, radius=radius)
    return _finish(rng, signal)


def make_junctions(rng, shape=(16, 112, 112)):
    """Cell-junction lines: the borders of a Voronoi tiling, bright near one apical plane, spotty."""
    signal = np.zeros(shape)
    seeds = rng.uniform(0, shape[1], (14, 2))
    yy, xx = np.indices(shape[1:])
    distances = np.sort(np.sqrt((yy[..., None] - seeds[:, 0]) ** 2 + (xx[..., None] - seeds[:, 1]) ** 2), axis=-1)
    border = np.exp(-((distances[..., 1] - distances[..., 0]) ** 2) / 2.0)
    spotty = 0.6 + 0.8 * ndimage.gaussian_filter(rng.random(shape[1:]), 2) * 2.5
    apical = 7.0
    for z in range(shape[0]):
        signal[z] = 1400 * border * spotty * np.exp(-((z - apical) ** 2) / (2 * 1.5 ** 2))
    return _finish(rng, signal)


def make_dots(rng, shape=(16, 96, 96)):
    """Round dots of several sizes and brightnesses, many touching pairs."""
    return make_golden_dots(rng, shape, count=55, radius=(0.9, 2.2), brightness=(800, 3500), rings=0)


def make_lysosomes(rng, shape=(16, 96, 96)):
    """Lysosome-like rings (hollow in 2D) of several radii, and small dots."""
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    for _ in range(14):
        c = rng.uniform([3, 8, 8], np.subtract(shape, [3, 8, 8]))
        r = rng.uniform(2.5, 6)
        dist = np.sqrt(((zz - c[0]) * 2.5) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
        signal += rng.uniform(700, 1500) * np.exp(-((dist - r) ** 2) / 1.0)
    for _ in range(25):
        c = rng.uniform([2, 3, 3], np.subtract(shape, [2, 3, 3]))
        d2 = ((zz - c[0]) * 2.0) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        signal += rng.uniform(800, 2500) * np.exp(-d2 / (2 * rng.uniform(1, 2) ** 2))
    return _finish(rng, signal)


def make_nucleoli(rng, shape=(20, 96, 96)):
    """Three nuclei (dim nucleoplasm) with bright nucleoli, one nucleus much dimmer, dark holes."""
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    for c, r, brightness in (((10, 26, 26), (7, 19, 17), 1.0), ((10, 64, 60), (7, 18, 21), 0.5),
                             ((9, 24, 76), (6, 14, 13), 0.8)):
        d = np.sqrt(((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2)
        signal += 250 * brightness * (d < 1.0)
        for _ in range(3):
            o = np.add(c, rng.uniform(-0.45, 0.45, 3) * r)
            rr = rng.uniform(3.0, 6.0)
            dn = np.sqrt(((zz - o[0]) * 2.2) ** 2 + (yy - o[1]) ** 2 + (xx - o[2]) ** 2)
            nucleolus = brightness * rng.uniform(2000, 4000) * (dn < rr)
            nucleolus *= 1 - 0.7 * (dn < rr * 0.35)  # a darker fibrillar centre
            signal += nucleolus
    return _finish(rng, signal)


def make_golgi(rng, shape=(20, 96, 96)):
    """Golgi-like: dense clusters of small blobs and short ribbons next to (dim) cells."""
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    for c in ((10, 30, 30), (9, 66, 64), (11, 28, 72)):
        d = np.sqrt(((zz - c[0]) / 7) ** 2 + ((yy - c[1]) / 20) ** 2 + ((xx - c[2]) / 18) ** 2)
        signal += 120 * (d < 1.0)  # cytoplasm haze
        for _ in range(9):
            a = np.add(c, rng.normal(0, 1, 3) * [1.5, 5, 5])
            b = a + rng.normal(0, 1, 3) * [0.3, 4, 4]
            _draw_tube(signal, a, b, rng.uniform(1500, 3500), radius=rng.uniform(0.8, 1.6))
        for _ in range(12):
            o = np.add(c, rng.normal(0, 1, 3) * [2, 7, 7])
            dn = ((zz - o[0]) * 2.0) ** 2 + (yy - o[1]) ** 2 + (xx - o[2]) ** 2
            signal += rng.uniform(1000, 3000) * np.exp(-dn / (2 * 1.3 ** 2))
    return _finish(rng, signal)


def make_nuclear_shells(rng, shape=(24, 112, 112)):
    """Three lamina shells (hollow nuclei) of the shell golden's kind, large enough for the
    interphase workflow (hole area >= 400 px in the middle slice)."""
    return make_shells(rng, shape)


MAKERS = {"filaments": make_filaments, "curvilinear": make_curvilinear, "shells": make_nuclear_shells,
          "junctions": make_junctions, "dots": make_dots, "lysosomes": make_lysosomes,
          "nucleoli": make_nucleoli, "golgi": make_golgi}


# ----------------------------------------------------------------------------------------------
# The reference workflows
# ----------------------------------------------------------------------------------------------

def run_reference(name: str, image: np.ndarray) -> np.ndarray:
    """The reference's Python workflow for one preset, as a bool (Z, Y, X) mask."""
    module = importlib.import_module(f"aicssegmentation.structure_wrapper.seg_{name}")
    workflow = getattr(module, f"Workflow_{name}")
    with contextlib.redirect_stdout(io.StringIO()):  # the reference prints
        return np.asarray(workflow(image.astype(np.float32).copy(), output_type="array")) > 0


def main(names=None) -> None:
    versions = {"aicssegmentation": "0.5.3", "scikit-image": skimage.__version__, "numpy": np.__version__}
    inputs = {kind: make(np.random.default_rng(3000 + index)) for index, (kind, make) in enumerate(MAKERS.items())}
    stored = {f"input_{kind}": image for kind, image in inputs.items()}
    manifest = {}
    for name, kind in PRESETS.items():
        if names and name not in names:
            continue
        mask = run_reference(name, inputs[kind])
        fraction = mask.mean()
        if not 0.001 <= fraction <= 0.5:
            raise RuntimeError(f"{name}: the reference mask covers {fraction:.2%} of the image; "
                               "change the synthetic input so the golden means something")
        stored[f"mask_{name}"] = np.packbits(mask.ravel())
        manifest[name] = {"input": f"input_{kind}", "shape": list(mask.shape), "voxels": int(mask.sum()),
                          "fraction": round(float(fraction), 5),
                          "objects": int(ndimage.label(mask)[1])}
        print(f"{name:18s} {kind:12s} {mask.sum():7d} voxels ({fraction:.2%}), {manifest[name]['objects']} objects",
              flush=True)
    stored["manifest"] = np.array(json.dumps({"presets": manifest, "versions": versions}))
    path = HERE / "workflows.npz"
    np.savez_compressed(path, **stored)
    print(f"{path.name}: {len(manifest)} presets, {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
