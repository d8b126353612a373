"""Make the golden outputs of every classic building block with the reference implementation.

Run it with the reference environment's Python (see make_reference_env.sh), from the repository root:

    .reference-env/bin/python tests/goldens/make_goldens.py

It draws small synthetic images of four structure kinds (filaments, dots and rings, nuclear shells,
nucleoli in nuclei), runs the reference's building blocks (aicssegmentation 0.5.3 with
scikit-image 0.25.2) on them, and writes one compressed ``<kind>.npz`` per kind next to this
script. Each file holds the input, every output, and a JSON manifest of the cases (block, its
parameters, which stored array it takes as input); tests/test_golden_parity.py replays the manifest
with our functions. Every block takes the *reference's* output of the previous step as its input,
so differences never compound. The synthetic inputs are stored, so the tests do not depend on
NumPy's random streams.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import re
import sys
from pathlib import Path

import numpy as np
from scipy import ndimage

import skimage
from skimage.measure import label
from skimage.morphology import ball, dilation, medial_axis
from skimage.segmentation import find_boundaries, watershed

import aicssegmentation
from aicssegmentation.core import utils as ref_utils
from aicssegmentation.core.MO_threshold import MO_high_level, MO_low_level
from aicssegmentation.core.hessian import absolute_3d_hessian_eigenvalues
from aicssegmentation.core.pre_processing_utils import (
    edge_preserving_smoothing_3d,
    image_smoothing_gaussian_3d,
    image_smoothing_gaussian_slice_by_slice,
    intensity_normalization,
    suggest_normalization_param,
)
from aicssegmentation.core.seg_dot import (
    dot_2d_slice_by_slice_wrapper,
    dot_3d,
    dot_3d_wrapper,
    dot_slice_by_slice,
)
from aicssegmentation.core.vessel import (
    filament_2d_wrapper,
    filament_3d_wrapper,
    vesselness3D,
    vesselnessSliceBySlice,
)
from skimage.filters import threshold_otsu, threshold_triangle

HERE = Path(__file__).resolve().parent

# The reference's thinning calls medial_axis without a seed (random tie-breaks); seed it.
ref_utils.medial_axis = functools.partial(medial_axis, rng=0)


# ----------------------------------------------------------------------------------------------
# Synthetic inputs (uint16, spinning-disk-like: blurred geometry + background + Poisson noise)
# ----------------------------------------------------------------------------------------------

def _finish(rng, signal, background=400.0, gain=1.0, blur=(0.8, 1.0, 1.0), read_noise=6.0):
    yy = np.linspace(-1, 1, signal.shape[1])[None, :, None]
    xx = np.linspace(-1, 1, signal.shape[2])[None, None, :]
    uneven = 1.0 + 0.15 * xx - 0.1 * yy ** 2
    image = ndimage.gaussian_filter(signal, blur) + background * uneven
    image = rng.poisson(np.clip(image * gain, 0, None)).astype(np.float64)
    image += rng.normal(0, read_noise, image.shape)
    return np.clip(np.round(image), 0, 65535).astype(np.uint16)


def _draw_tube(volume, start, end, value, radius=0.9):
    length = np.linalg.norm(np.subtract(end, start))
    n = max(2, int(length * 3))
    zz, yy, xx = np.indices(volume.shape, sparse=True)
    for t in np.linspace(0, 1, n):
        c = np.add(start, np.multiply(t, np.subtract(end, start)))
        lo = np.maximum(np.floor(c - radius - 1).astype(int), 0)
        hi = np.minimum(np.ceil(c + radius + 2).astype(int), volume.shape)
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        d2 = (zz[sl[0]] - c[0]) ** 2 * 4 + (yy[:, sl[1]] - c[1]) ** 2 + (xx[..., sl[2]] - c[2]) ** 2
        volume[sl] = np.maximum(volume[sl], value * (d2 <= radius ** 2))


def make_filaments(rng, shape=(16, 64, 64)):
    signal = np.zeros(shape)
    for _ in range(14):
        start = rng.uniform([1, 0, 0], np.subtract(shape, 1))
        end = rng.uniform([1, 0, 0], np.subtract(shape, 1))
        end[0] = np.clip(start[0] + rng.normal(0, 2), 1, shape[0] - 2)
        _draw_tube(signal, start, end, rng.uniform(700, 1600), radius=rng.uniform(0.7, 1.6))
    return _finish(rng, signal)


def make_dots(rng, shape=(16, 64, 64), *, count=22, radius=(1.0, 2.2), brightness=(800, 3000), rings=4):
    """Round dots (some in touching pairs) and optionally lysosome-like rings in 2D."""
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    centres = []
    for _ in range(count):
        c = rng.uniform([2, 3, 3], np.subtract(shape, [2, 3, 3]))
        centres.append(c)
        if rng.random() < 0.4:  # a touching partner
            centres.append(c + rng.normal(0, 1, 3) * [0.3, 1, 1] + [0, 3.2, 0])
    for c in centres:
        r = rng.uniform(*radius)
        d2 = ((zz - c[0]) * 2.0) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2
        signal += rng.uniform(*brightness) * np.exp(-d2 / (2 * r * r))
    for _ in range(rings):  # rings (lysosome-like), in 2D
        c = rng.uniform([2, 8, 8], np.subtract(shape, [2, 8, 8]))
        r = rng.uniform(3, 5)
        dist = np.sqrt(((zz - c[0]) * 2.5) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2)
        signal += 900 * np.exp(-((dist - r) ** 2) / 1.0) * (np.abs(zz - c[0]) < 2)
    return _finish(rng, signal)


def make_shells(rng, shape=(24, 96, 96)):
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    for c, r in (((11, 30, 32), (7, 20, 17)), ((12, 66, 62), (7, 19, 22)), ((10, 24, 76), (6, 14, 13))):
        d = np.sqrt(((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2)
        signal += rng.uniform(1200, 2500) * (np.abs(d - 1.0) < 0.07)
        signal += 150 * (d < 1.0)
    return _finish(rng, signal, blur=(1.0, 1.2, 1.2))


def make_nucleoli(rng, shape=(20, 80, 80)):
    signal = np.zeros(shape)
    zz, yy, xx = np.indices(shape)
    for c, r, brightness in (((10, 24, 24), (7, 19, 17), 1.0), ((10, 55, 56), (7, 17, 20), 0.45)):
        d = np.sqrt(((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2)
        signal += 250 * brightness * (d < 1.0)
        for _ in range(3):
            o = np.add(c, rng.uniform(-0.45, 0.45, 3) * r)
            rr = rng.uniform(3.5, 6.0)
            dn = np.sqrt(((zz - o[0]) * 2.2) ** 2 + (yy - o[1]) ** 2 + (xx - o[2]) ** 2)
            signal += brightness * rng.uniform(2000, 4000) * (dn < rr)
    return _finish(rng, signal)


# ----------------------------------------------------------------------------------------------
# Cases: (block id, input array name, parameters, output array name)
# ----------------------------------------------------------------------------------------------

def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def run_block(block, params, arrays, inputs):
    """Run one reference building block. ``inputs`` names stored arrays; copies are passed
    because the reference edits its input in place."""
    x = [np.array(arrays[name]) for name in inputs]
    p = params
    if block == "min_max":
        bound = p.get("upper_bound") or 0
        return intensity_normalization(_f32(x[0]), scaling_param=[bound])
    if block == "auto_contrast":
        return intensity_normalization(_f32(x[0]), scaling_param=[p["lower_sd"], p["upper_sd"]])
    if block == "auto_contrast_in_range":
        return intensity_normalization(_f32(x[0]), scaling_param=[p["lower_sd"], p["upper_sd"],
                                                                  p["lower_intensity"], p["upper_intensity"]])
    if block == "suggest_auto_contrast":
        # The reference prints its suggestion (and returns None): read it from what it prints.
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            suggest_normalization_param(_f32(x[0]))
        found = re.search(r"suggested parameter for normalization is \[([^,\]]+),\s*([^\]]+)\]", printed.getvalue())
        return np.array([float(found.group(1)), float(found.group(2))], dtype=np.float64)
    if block == "gaussian_3d":
        return image_smoothing_gaussian_3d(_f32(x[0]), sigma=p["sigma"])
    if block == "gaussian_2d":
        return image_smoothing_gaussian_slice_by_slice(_f32(x[0]), sigma=p["sigma"])
    if block == "edge_preserving":
        return edge_preserving_smoothing_3d(_f32(x[0]))
    if block == "hessian_eigenvalues_3d":
        return np.stack(absolute_3d_hessian_eigenvalues(_f32(x[0]), sigma=p["sigma"], scale=True, whiteonblack=True))
    if block == "filament_response_3d":
        return vesselness3D(_f32(x[0]), sigmas=[p["sigma"]], tau=1, whiteonblack=True)
    if block == "filament_filter_3d":
        return filament_3d_wrapper(_f32(x[0]), [list(s) for s in p["scales"]])
    if block == "filament_response_2d":
        return vesselnessSliceBySlice(_f32(x[0]), sigmas=[p["sigma"]], tau=1, whiteonblack=True)
    if block == "filament_filter_2d":
        return filament_2d_wrapper(_f32(x[0]), [list(s) for s in p["scales"]])
    if block == "spot_response_3d":
        return dot_3d(_f32(x[0]), log_sigma=p["sigma"])
    if block == "spot_filter_3d":
        return dot_3d_wrapper(_f32(x[0]), [list(s) for s in p["scales"]])
    if block == "spot_response_2d":
        return dot_slice_by_slice(_f32(x[0]), log_sigma=p["sigma"])
    if block == "spot_filter_2d":
        return dot_2d_slice_by_slice_wrapper(_f32(x[0]), [list(s) for s in p["scales"]])
    if block == "global_threshold":
        image = _f32(x[0])
        method = p["method"]
        if method == "triangle":
            return np.array(threshold_triangle(image), dtype=np.float64)
        if method == "median":
            return np.array(np.percentile(image, 50), dtype=np.float64)
        if method == "ave_tri_med":
            return np.array((threshold_triangle(image) + np.percentile(image, 50)) / 2, dtype=np.float64)
        if method == "otsu":
            return np.array(threshold_otsu(image), dtype=np.float64)
    if block == "masked_object_threshold_low":
        return MO_low_level(_f32(x[0]), p["method"], p["min_size"], p["dilate"])
    if block == "masked_object_threshold_high":
        return MO_high_level(_f32(x[0]), x[1] > 0, p["extra_criteria"], p["local_adjust"])
    if block == "remove_small_objects":
        method = "slice_by_slice" if p.get("per_slice") else "3D"
        return ref_utils.size_filter(x[0] > 0, min_size=p["min_size"], method=method, connectivity=1)
    if block == "fill_holes":
        return ref_utils.hole_filling(x[0] > 0, p["min_size"], p["max_size"], fill_2d=p["per_slice"])
    if block == "thin":
        return ref_utils.topology_preserving_thinning(x[0] > 0, min_thickness=p["min_thickness"], thin=p["thin"])
    if block == "find_local_maxima":
        return ref_utils.peak_local_max_wrapper(_f32(x[0]), x[1] > 0) > 0
    if block == "cut_touching_objects":
        bw = x[0] > 0
        distance = ndimage.distance_transform_edt(bw)
        seeds = label(dilation(x[1] > 0, footprint=ball(1)))
        return watershed(-distance, seeds, mask=bw, watershed_line=True) > 0
    if block == "shell_seeds":
        image = _f32(x[0])
        mid_z = ref_utils.get_middle_frame(image, method="intensity")
        bw_mid = filament_2d_wrapper(image[mid_z], [list(s) for s in p["scales"]])
        filled = ref_utils.hole_filling(bw_mid, p["min_area"], p["max_area"])
        return ref_utils.get_3dseed_from_mid_frame(np.logical_xor(filled, bw_mid), image.shape, mid_z,
                                                   p["min_area"], bg_seed=p["background_seed"]).astype(np.int32)
    if block == "seeded_watershed":
        return watershed(_f32(x[0]), x[1].astype(int), watershed_line=True).astype(np.int32)
    if block == "object_boundaries":
        # the interphase lamin workflow: drop the background object (label 1), then boundaries
        return find_boundaries(x[0] > 1, connectivity=1, mode="thick")
    raise KeyError(block)


CASES = {
    "filaments": [
        ("min_max", ["input"], {}, "mm"),
        ("auto_contrast", ["input"], {"lower_sd": 1.5, "upper_sd": 8.0}, "ac"),
        ("suggest_auto_contrast", ["input"], {}, "suggested"),
        ("edge_preserving", ["ac"], {}, "es"),
        ("gaussian_3d", ["ac"], {"sigma": 1.0}, "g3"),
        ("hessian_eigenvalues_3d", ["es"], {"sigma": 1.0}, "eig_s1"),
        ("filament_response_3d", ["es"], {"sigma": 1.0}, "f3r_s1"),
        ("filament_response_3d", ["es"], {"sigma": 2.0}, "f3r_s2"),
        ("filament_filter_3d", ["es"], {"scales": [[1.0, 0.01]]}, "f3_tuba1b"),
        ("filament_filter_3d", ["es"], {"scales": [[2.0, 0.1], [1.0, 0.04]]}, "f3_actb"),
        ("filament_filter_3d", ["g3"], {"scales": [[1.5, 0.2]]}, "f3_tjp1"),
        ("filament_response_2d", ["g3"], {"sigma": 1.5}, "f2r_s15"),
        ("filament_filter_2d", ["es"], {"scales": [[1.0, 0.15]]}, "f2_sec61b"),
        ("filament_filter_2d", ["g3"], {"scales": [[1.5, 0.16]]}, "f2_tomm20"),
        ("remove_small_objects", ["f3_tuba1b"], {"min_size": 20}, "size_3d"),
        ("remove_small_objects", ["f2_sec61b"], {"min_size": 15, "per_slice": True}, "size_2d"),
    ],
    "dots": [
        ("min_max", ["input"], {"upper_bound": 2500}, "mm_bound"),
        ("auto_contrast", ["input"], {"lower_sd": 2.0, "upper_sd": 36.0}, "ac"),
        ("auto_contrast_in_range", ["input"], {"lower_sd": 12, "upper_sd": 160, "lower_intensity": 300,
                                               "upper_intensity": 2000}, "ac4"),
        ("gaussian_2d", ["ac"], {"sigma": 1.0}, "g2"),
        ("edge_preserving", ["mm_bound"], {}, "es"),
        ("spot_response_3d", ["g2"], {"sigma": 1.0}, "s3r"),
        ("spot_filter_3d", ["g2"], {"scales": [[1.0, 0.045]]}, "s3"),
        ("spot_response_2d", ["g2"], {"sigma": 1.5}, "s2r"),
        ("spot_filter_2d", ["g2"], {"scales": [[5.0, 0.09], [2.5, 0.07], [1.0, 0.01]]}, "s2_lamp1"),
        ("filament_filter_2d", ["g2"], {"scales": [[1.0, 0.15]]}, "f2_lamp1"),
        ("fill_holes", ["s2_lamp1"], {"min_size": 0, "max_size": 1600, "per_slice": True}, "holes_2d"),
        ("fill_holes", ["f2_lamp1"], {"min_size": 1, "max_size": 40, "per_slice": False}, "holes_3d"),
        ("remove_small_objects", ["s3"], {"min_size": 3}, "size"),
        ("find_local_maxima", ["ac", "size"], {"min_distance": 2}, "maxima"),
        ("cut_touching_objects", ["size", "maxima"], {}, "cut"),
    ],
    "shells": [
        ("min_max", ["input"], {"upper_bound": 4000}, "mm_bound"),
        ("gaussian_3d", ["mm_bound"], {"sigma": 1.0}, "g3"),
        ("filament_filter_2d", ["g3"], {"scales": [[0.5, 0.01]]}, "f2_mitotic"),
        ("shell_seeds", ["g3"], {"scales": [[1, 0.01], [2, 0.01], [3, 0.01]], "min_area": 400,
                                  "max_area": 40000, "background_seed": True}, "seeds"),
        ("seeded_watershed", ["mm_bound", "seeds"], {}, "watershed"),
        ("object_boundaries", ["watershed"], {}, "boundaries"),
    ],
    "nucleoli": [
        ("auto_contrast", ["input"], {"lower_sd": 0.5, "upper_sd": 18.0}, "ac"),
        ("gaussian_3d", ["ac"], {"sigma": 1.0}, "g3"),
        ("global_threshold", ["g3"], {"method": "triangle"}, "t_triangle"),
        ("global_threshold", ["g3"], {"method": "median"}, "t_median"),
        ("global_threshold", ["g3"], {"method": "ave_tri_med"}, "t_ave"),
        ("global_threshold", ["g3"], {"method": "otsu"}, "t_otsu"),
        ("masked_object_threshold_low", ["g3"], {"method": "ave_tri_med", "min_size": 700, "dilate": False}, "mo_low"),
        ("masked_object_threshold_low", ["g3"], {"method": "ave_tri_med", "min_size": 700, "dilate": True}, "mo_low_dil"),
        ("masked_object_threshold_low", ["g3"], {"method": "triangle", "min_size": 1200, "dilate": True}, "mo_low_tri"),
        ("masked_object_threshold_high", ["g3", "mo_low"], {"extra_criteria": False, "local_adjust": 1.0}, "mo_high"),
        ("masked_object_threshold_high", ["g3", "mo_low_dil"], {"extra_criteria": True, "local_adjust": 0.98}, "mo_high_extra"),
        ("thin", ["mo_high"], {"min_thickness": 1.6, "thin": 1}, "thin"),
        ("thin", ["mo_low_dil"], {"min_thickness": 1, "thin": 2}, "thin2"),
        ("spot_filter_2d", ["g3"], {"scales": [[1.0, 0.01]]}, "s2"),
    ],
}

MAKERS = {"filaments": make_filaments, "dots": make_dots, "shells": make_shells, "nucleoli": make_nucleoli}


def _store(out: dict, name: str, value) -> str:
    value = np.asarray(value)
    if value.dtype == bool:
        out[name] = np.packbits(value.ravel())
        out[name + "__shape"] = np.array(value.shape)
        return "bool"
    if np.issubdtype(value.dtype, np.integer):
        out[name] = value.astype(np.int32)
        return "labels"
    if value.ndim == 0 or value.size <= 3:
        out[name] = value.astype(np.float64)
        return "scalar"
    out[name] = value.astype(np.float32)
    return "float"


def main(kinds=None) -> None:
    versions = {"aicssegmentation": aicssegmentation.__version__ if hasattr(aicssegmentation, "__version__") else "0.5.3",
                "scikit-image": skimage.__version__, "numpy": np.__version__}
    for index, (kind, cases) in enumerate(CASES.items()):
        if kinds and kind not in kinds:
            continue
        rng = np.random.default_rng(2024 + index)
        arrays = {"input": MAKERS[kind](rng)}
        stored = {"input": arrays["input"]}
        manifest = []
        for block, inputs, params, output in cases:
            result = run_block(block, params, arrays, inputs)
            arrays[output] = np.asarray(result)
            kind_of_output = _store(stored, output, result)
            manifest.append({"block": block, "inputs": inputs, "params": params, "output": output,
                             "type": kind_of_output})
        stored["manifest"] = np.array(json.dumps({"cases": manifest, "versions": versions}))
        path = HERE / f"{kind}.npz"
        np.savez_compressed(path, **stored)
        print(f"{path.name}: {len(manifest)} cases, {path.stat().st_size / 1e3:.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
