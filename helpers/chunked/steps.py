"""How each building block of the registry runs block by block, exactly as it runs in memory.

Every step writes its output to an on-disk array (or, for a normalization, describes it as a
voxel-wise function of its input, computed as later steps read it). The families:

- **voxel-wise and neighbourhood steps** (Gaussian smoothing, spot filters, union, invert, masking):
  each block is read with a halo as wide as the step reaches (the Gaussian kernel radius), run through
  the in-memory function and cropped to its core. Exact: at the volume's faces the halo is clipped, so
  the border rule is the in-memory one.
- **normalizations**: a streaming pass gathers the whole image's statistics (mean, standard deviation,
  minimum, maximum; within the window for AC4), then every block is stretched with them.
- **3D filament filter**: a first pass finds the volume's minimum Hessian eigenvalue (per scale), the
  second computes the response with it. Bit-identical to the in-memory filter.
- **2D filament filter**: a pass takes the maximum projection of the whole stack; then blocks of whole
  planes are filtered side by side with it, as in memory. Bit-identical.
- **edge-preserving smoothing**: every iteration needs the whole image's mean squared gradient; each
  pass updates blocks of whole planes (halo 2) and sums the next iteration's gradients at once.
- **object steps** (size filters, hole filling, local maxima): connected components of the whole
  volume, from :mod:`.labels`.
- **watershed cut**: markers and distances block by block, then one flood over the mask's voxels
  (:mod:`.watershed_cut`); region by region, with a warning, when the mask is too large for that.

Steps that need the whole volume at once (masked-object thresholds, thinning, the nuclear-envelope
seeds and watershed) are refused before anything runs, with what to do instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..registry import get_algorithm
from .arrays import PointwiseArray, ZarrArray, create_zarr
from .blocks import BlockGrid, core_shape_for
from .executor import BlockExecutor
from .statistics import combine_moments, combine_projections, moments_task, projection_task

__all__ = ["Context", "BLOCKWISE", "UNSUPPORTED", "check_blockwise", "run_step"]

#: Why a block cannot run a step, and what to do (shown to the user).
UNSUPPORTED = {
    "masked_object_threshold_low": "its global threshold and size filter act on the whole image at once",
    "masked_object_threshold_high": "its Otsu threshold per object needs whole objects of any size",
    "thin": "it thins each slice by its whole medial axis",
    "shell_seeds": "it finds seeds on the middle slice of the whole stack",
    "seeded_watershed": "the watershed floods the whole volume from its seeds",
    "drop_background_object": "it works on the labels of a whole-volume watershed",
    "object_boundaries": "it works on the labels of a whole-volume watershed",
}

_IMAGE_OUTPUT = {"gaussian_smooth_3d", "gaussian_smooth_2d", "edge_preserving_smooth", "min_max_normalize",
                 "auto_contrast", "auto_contrast_in_range"}


@dataclass
class Context:
    """What every step runner needs: the volume shape, where tasks run, scratch space, memory per block."""

    shape: tuple[int, int, int]
    executor: BlockExecutor
    work: Path
    block_bytes: float
    chunks: tuple[int, int, int]
    #: Memory for work done in this process on the whole volume at once (the watershed cut's flood).
    memory_bytes: float = 3 * 2**30
    counter: int = 0

    def grid(self, *, halo=0, bytes_per_voxel: float = 32.0, whole_planes: bool = False) -> BlockGrid:
        core = core_shape_for(self.shape, bytes_per_voxel=bytes_per_voxel, memory_bytes=self.block_bytes,
                              halo=halo, chunks=self.chunks, whole_planes=whole_planes)
        return BlockGrid(self.shape, core)

    def new_array(self, name: str, dtype) -> ZarrArray:
        self.counter += 1
        return create_zarr(self.work / f"{self.counter:03d}_{name}.zarr", shape=self.shape, dtype=dtype,
                           chunks=self.chunks)

    def folder(self, name: str) -> Path:
        self.counter += 1
        path = self.work / f"{self.counter:03d}_{name}"
        path.mkdir(parents=True, exist_ok=True)
        return path


def check_blockwise(workflow) -> None:
    """Raise ValueError, before anything runs, when a step of ``workflow`` cannot run block by block."""
    for step in workflow.steps:
        if step.algorithm in UNSUPPORTED:
            raise ValueError(
                f"Step {step.id!r} ({step.algorithm}) of workflow {workflow.name!r} cannot run block by block: "
                f"{UNSUPPORTED[step.algorithm]}. Run this workflow in memory (the image must fit: about 20 "
                "bytes per voxel), or crop the volume into parts that fit and segment those.")
        if step.algorithm not in BLOCKWISE:
            raise ValueError(f"Step {step.id!r} ({step.algorithm}) has no block-wise implementation.")


# ----------------------------------------------------------------------------------------------
# tasks (top-level functions of one picklable item, so that they run in any process)
# ----------------------------------------------------------------------------------------------

def _read_inputs(inputs: dict, region) -> dict:
    return {name: ([ref.read(region) for ref in value] if isinstance(value, list) else value.read(region))
            for name, value in inputs.items()}


def _local_task(item) -> int:
    algorithm_name, parameters, inputs, out, block, halo = item
    read, inner = block.with_halo(halo)
    result = np.asarray(get_algorithm(algorithm_name).call(_read_inputs(inputs, read), parameters))
    core = result[inner]
    out.write(block.core, core)
    return int(np.count_nonzero(core)) if core.dtype == bool else 0


def _stretch_values(values, *, low, high, bound=None, minimum=None):
    """The normalizations' clip-and-rescale (helpers.normalization._stretch) with whole-image bounds."""
    from ..normalization import _stretch

    work = np.asarray(values).astype(np.float32, copy=False)
    if bound is not None:
        bright = work > np.float32(bound)
        if bright.any():
            work = work.copy()
            work[bright] = np.float32(minimum)
    return _stretch(work, low, high)


def _f3_minimum_task(item) -> list[float]:
    from .. import _hessian_kernels as kernels
    from ..filaments import _smooth

    source, block, halo, sigmas = item
    read, inner = block.with_halo(halo)
    work = source.read(read).astype(np.float32, copy=False)
    minima = []
    for sigma in sigmas:
        middle, large = _eigenvalues_3d(work, sigma, kernels, _smooth)
        minima.append(float(large[inner].min()))
    return minima


def _eigenvalues_3d(work, sigma, kernels, smooth):
    smoothed = smooth(np.ascontiguousarray(work), sigma)
    middle = np.empty(work.shape, dtype=np.float32)
    large = np.empty(work.shape, dtype=np.float32)
    plane_minima = np.empty(work.shape[0], dtype=np.float32)
    unused = np.empty((1, 1, 1), dtype=np.float32)
    kernels.hessian_eigenvalues_3d(smoothed, sigma * sigma, unused, middle, large, plane_minima)
    return middle, large


def _f3_filter_task(item) -> int:
    from .. import _hessian_kernels as kernels
    from ..filaments import TAU, _smooth

    source, out, block, halo, pairs, minima = item
    read, inner = block.with_halo(halo)
    work = source.read(read).astype(np.float32, copy=False)
    result = np.zeros(block.core_shape, dtype=bool)
    for (sigma, cutoff), minimum in zip(pairs, minima):
        middle, large = _eigenvalues_3d(work, sigma, kernels, _smooth)
        kernels.vesselness_3d(middle, large, np.float32(TAU) * np.float32(minimum), middle)
        result |= middle[inner] > np.float32(cutoff)
    out.write(block.core, result)
    return int(result.sum())


def _f2_filter_task(item) -> int:
    from ..filaments import _response_2d

    source, out, block, pairs, shared_scale, projection_file = item
    work = np.ascontiguousarray(source.read(block.core).astype(np.float32, copy=False))
    projection = np.load(projection_file) if shared_scale else None
    result = np.zeros(block.core_shape, dtype=bool)
    for sigma, cutoff in pairs:
        result |= _response_2d(work, sigma, shared_scale, projection=projection) > np.float32(cutoff)
    out.write(block.core, result)
    return int(result.sum())


def _diffusion_gradient_task(item) -> float:
    from .._anisotropic_diffusion import _squared_gradient_sum

    source, block = item
    read, inner = block.with_halo((1, 0, 0))
    work = np.ascontiguousarray(source.read(read).astype(np.float32, copy=False))
    return float(_squared_gradient_sum(work, inner[0].start, inner[0].stop))


def _diffusion_step_task(item) -> float:
    """One diffusion step of a block of whole planes; returns the new image's gradient sum over the core."""
    from .._anisotropic_diffusion import _diffusion_step_slab, _squared_gradient_sum

    source, out, block, k, time_step, last = item
    read, inner = block.with_halo((2, 0, 0))
    work = np.ascontiguousarray(source.read(read).astype(np.float32, copy=False))
    start, stop = inner[0].start, inner[0].stop
    first_new, last_new = max(start - 1, 0), min(stop + 1, work.shape[0])
    updated = work.copy()
    _diffusion_step_slab(work, updated, k, time_step, first_new, last_new)
    out.write(block.core, updated[inner])
    if last:
        return 0.0
    # planes outside [first_new, last_new) are stale, but only core planes and their neighbours are summed;
    # at the volume's faces the clamped neighbour is the face plane itself, as in memory
    return float(_squared_gradient_sum(updated, start, stop))


# ----------------------------------------------------------------------------------------------
# runners: one per family; each returns a reference to the step's output
# ----------------------------------------------------------------------------------------------

def _output_dtype(step, inputs) -> str:
    if step.algorithm in _IMAGE_OUTPUT:
        return "float32"
    if step.algorithm in ("invert", "mask_image"):
        first = next(iter(inputs.values()))
        return "bool" if np.dtype(first.dtype) == bool or np.issubdtype(first.dtype, np.integer) else "float32"
    return "bool"


def _run_local(context: Context, step, parameters, inputs, halo, bytes_per_voxel=32.0, whole_planes=False):
    out = context.new_array(step.id, _output_dtype(step, inputs))
    grid = context.grid(halo=halo, bytes_per_voxel=bytes_per_voxel, whole_planes=whole_planes)
    context.executor.map(_local_task, [(step.algorithm, parameters, inputs, out, block, halo) for block in grid],
                         what=step.id)
    return out


def _gaussian_radius(sigma: float, truncate: float) -> int:
    return int(truncate * float(sigma) + 0.5)


def _run_gaussian(context, step, parameters, inputs):
    radius = _gaussian_radius(parameters["sigma"], 3.0)
    halo = (radius, radius, radius) if step.algorithm == "gaussian_smooth_3d" else (0, radius, radius)
    return _run_local(context, step, parameters, inputs, halo, bytes_per_voxel=24.0)


def _run_spots(context, step, parameters, inputs):
    radius = max(_gaussian_radius(sigma, 4.0) for sigma, _ in parameters["scales"])
    halo = (radius, radius, radius) if step.algorithm == "spot_filter_3d" else (0, radius, radius)
    return _run_local(context, step, parameters, inputs, halo, bytes_per_voxel=40.0)


def _run_pointwise(context, step, parameters, inputs):
    return _run_local(context, step, parameters, inputs, 0, bytes_per_voxel=24.0)


def _statistics(context, source, *, window=None, bound=None):
    grid = context.grid(bytes_per_voxel=16.0)
    results = context.executor.map(moments_task, [(source, block, window, bound) for block in grid],
                                   what="statistics")
    return combine_moments(results)


def _constant(minimum: float) -> ValueError:
    return ValueError(f"The image is constant (every voxel is {minimum:g}), so there is no contrast to "
                      "normalize. Check that the right channel was read and that the image is not empty or "
                      "saturated.")


def _run_normalization(context, step, parameters, inputs):
    source = inputs["image"]
    name = step.algorithm
    if name == "auto_contrast":
        everything, _ = _statistics(context, source)
        if everything.minimum == everything.maximum:
            raise _constant(everything.minimum)
        mean, std = np.float32(everything.mean), np.float32(everything.std)
        low = max(mean - parameters["lower_sd"] * std, np.float32(everything.minimum))
        high = min(mean + parameters["upper_sd"] * std, np.float32(everything.maximum))
        if high <= low:
            raise ValueError(f"`lower_sd`={parameters['lower_sd']:g} and `upper_sd`={parameters['upper_sd']:g} "
                             f"give an empty intensity range [{low:g}, {high:g}]; make their sum positive.")
        arguments = {"low": float(low), "high": float(high)}
    elif name == "auto_contrast_in_range":
        window = (parameters["lower_intensity"], parameters["upper_intensity"])
        everything, inside = _statistics(context, source, window=window)
        if everything.minimum == everything.maximum:
            raise _constant(everything.minimum)
        if inside.count == 0:
            raise ValueError(f"No voxel lies between `lower_intensity`={window[0]:g} and `upper_intensity`="
                             f"{window[1]:g} (the image spans {everything.minimum:g} to {everything.maximum:g}); "
                             "choose a window inside that range.")
        std = np.float32(inside.std)
        low = max(window[0] - parameters["lower_sd"] * std, everything.minimum)
        high = min(window[1] + parameters["upper_sd"] * std, everything.maximum)
        if high <= low:
            raise ValueError(f"The parameters give an empty intensity range [{low:g}, {high:g}].")
        arguments = {"low": float(low), "high": float(high)}
    else:  # min_max_normalize
        bound = parameters.get("upper_bound")
        bound = bound if bound is not None and bound >= 1 else None
        everything, kept = _statistics(context, source, bound=bound)
        arguments = {}
        high = everything.maximum
        if bound is not None:
            if kept.count == 0:
                raise ValueError(f"Every voxel is above `upper_bound` = {bound:g}; raise the bound (the image "
                                 f"maximum is {everything.maximum:g}) or use None for no bound.")
            if kept.count < everything.count:
                high = kept.maximum
                arguments = {"bound": float(bound), "minimum": float(everything.minimum)}
        if everything.minimum == high:
            raise _constant(everything.minimum)
        arguments.update(low=float(everything.minimum), high=float(high))
    return PointwiseArray(source, _stretch_values, tuple(sorted(arguments.items())), "float32")


def _run_filament_3d(context, step, parameters, inputs):
    source = inputs["image"]
    pairs = [(float(s), float(c)) for s, c in parameters["scales"]]
    halo = max(_gaussian_radius(sigma, 3.0) for sigma, _ in pairs) + 2
    if min(context.shape) < 3:
        raise ValueError(f"The 3D filament filter needs at least 3 voxels along every axis; the volume is "
                         f"{context.shape}.")
    grid = context.grid(halo=halo, bytes_per_voxel=32.0)
    sigmas = [sigma for sigma, _ in pairs]
    per_block = context.executor.map(_f3_minimum_task, [(source, block, halo, sigmas) for block in grid],
                                     what=f"{step.id} (statistics)")
    minima = [min(values[i] for values in per_block) for i in range(len(pairs))]
    out = context.new_array(step.id, "bool")
    context.executor.map(_f3_filter_task, [(source, out, block, halo, pairs, minima) for block in grid],
                         what=step.id)
    return out


def _run_filament_2d(context, step, parameters, inputs):
    source = inputs["image"]
    pairs = [(float(s), float(c)) for s, c in parameters["scales"]]
    grid = context.grid(bytes_per_voxel=40.0, whole_planes=True)
    projection_file = None
    if parameters.get("shared_scale", True):
        projection = combine_projections(context.executor.map(
            projection_task, [(source, block) for block in grid], what=f"{step.id} (projection)"))
        projection_file = str(context.folder(step.id + "_projection") / "projection.npy")
        np.save(projection_file, projection)
    out = context.new_array(step.id, "bool")
    context.executor.map(
        _f2_filter_task, [(source, out, block, pairs, projection_file is not None, projection_file) for block in grid],
        what=step.id)
    return out


def _run_diffusion(context, step, parameters, inputs):
    source = inputs["image"]
    iterations = int(parameters["iterations"])
    conductance, time_step = float(parameters["conductance"]), float(parameters["time_step"])
    grid = context.grid(halo=(2, 0, 0), bytes_per_voxel=16.0, whole_planes=True)
    voxels = math.prod(context.shape)
    current = source
    if iterations == 0:
        return _run_pointwise(context, step, parameters, inputs)
    gradient = sum(context.executor.map(_diffusion_gradient_task, [(current, block) for block in grid],
                                        what=f"{step.id} (gradients)"))
    previous = None
    for iteration in range(iterations):
        with np.errstate(over="ignore"):
            k = float(np.float32(gradient / voxels * conductance * conductance * -2.0))
        if k == 0.0:
            break
        target = context.new_array(f"{step.id}_{iteration + 1}", "float32")
        last = iteration == iterations - 1
        gradient = sum(context.executor.map(
            _diffusion_step_task, [(current, target, block, k, time_step, last) for block in grid],
            what=f"{step.id} (iteration {iteration + 1} of {iterations})"))
        if previous is not None:
            _remove(previous)
        previous, current = target, target
    if current is source:  # nothing moved (a constant image): the output is the input as float32
        return _run_pointwise(context, step, {**parameters, "iterations": 0}, inputs)
    return current


def _remove(array) -> None:
    import shutil

    if isinstance(array, ZarrArray):
        shutil.rmtree(array.path, ignore_errors=True)


def _run_small_objects(context, step, parameters, inputs):
    from .labels import remove_small_objects_blocks

    out = context.new_array(step.id, "bool")
    grid = context.grid(bytes_per_voxel=24.0)
    remove_small_objects_blocks(inputs["mask"], out, min_size=parameters["min_size"],
                                per_slice=parameters["per_slice"], grid=grid, executor=context.executor,
                                work_folder=context.folder(step.id))
    return out


def _run_holes(context, step, parameters, inputs):
    from .labels import fill_holes_blocks

    out = context.new_array(step.id, "bool")
    grid = context.grid(bytes_per_voxel=24.0)
    fill_holes_blocks(inputs["mask"], out, min_size=parameters["min_size"], max_size=parameters["max_size"],
                      per_slice=parameters["per_slice"], grid=grid, executor=context.executor,
                      work_folder=context.folder(step.id))
    return out


def _dilate_task(item) -> int:
    from scipy import ndimage

    source, out, block, radius = item
    read, inner = block.with_halo(radius)
    values = source.read(read)
    grown = ndimage.binary_dilation(values > 0, structure=np.ones((2 * radius + 1,) * 3, dtype=bool))
    out.write(block.core, grown[inner])
    return 0


#: How far apart (voxels) two objects of a mask may be and still share a watershed marker: a seed grows by
#: a 6-neighbour cross and crosses that touch (26-connected) join, so objects closer than this are cut together.
_MARKER_REACH = 2


def _run_object_local(context, step, parameters, inputs):
    from .labels import run_object_local

    algorithm = get_algorithm(step.algorithm)
    out = context.new_array(step.id, "bool")
    grid = context.grid(bytes_per_voxel=48.0)
    reach = int(parameters.get("min_distance", 1)) + 1
    objects = inputs["mask"]
    if step.algorithm == "cut_touching_objects":
        # (the fallback of _run_cut) the watershed's markers can span neighbouring objects: the units of
        # work are the components of the mask grown by the markers' reach
        objects = context.new_array(step.id + "_objects", "bool")
        context.executor.map(_dilate_task, [(inputs["mask"], objects, block, _MARKER_REACH)
                                            for block in context.grid(halo=_MARKER_REACH, bytes_per_voxel=8.0)],
                             what=f"{step.id} (objects)")
    if step.algorithm == "find_local_maxima":  # seeds must beat the whole image's minimum, not a region's
        everything, _ = _statistics(context, inputs["image"])
        parameters = {**parameters, "minimum": everything.minimum}
    max_region = int(context.block_bytes // 32)
    run_object_local(algorithm.function, {name: inputs[name] for name, _ in algorithm.inputs}, out,
                     objects=objects, reach=(reach, reach, reach), grid=grid, executor=context.executor,
                     work_folder=context.folder(step.id), parameters=parameters, max_region_voxels=max_region)
    return out


def _run_cut(context, step, parameters, inputs):
    import warnings

    from .watershed_cut import BYTES_PER_VOXEL, cut_touching_objects_blocks

    out = context.new_array(step.id, "bool")
    if cut_touching_objects_blocks(inputs["mask"], inputs["seeds"], out, min_size=parameters["min_size"],
                                   context=context):
        return out
    _remove(out)
    warnings.warn(
        f"Step {step.id!r} (cut_touching_objects): the mask has too many voxels to cut in one flood within "
        f"{context.memory_bytes / 2**30:.1f} GB (about {BYTES_PER_VOXEL} bytes per mask voxel are needed), so "
        "objects are cut region by region. A few voxels on watershed lines may then differ from the in-memory "
        "result; give more memory (--memory) for the exact cut.", stacklevel=2)
    return _run_object_local(context, step, parameters, inputs)


BLOCKWISE = {
    "min_max_normalize": _run_normalization,
    "auto_contrast": _run_normalization,
    "auto_contrast_in_range": _run_normalization,
    "gaussian_smooth_3d": _run_gaussian,
    "gaussian_smooth_2d": _run_gaussian,
    "edge_preserving_smooth": _run_diffusion,
    "filament_filter_3d": _run_filament_3d,
    "filament_filter_2d": _run_filament_2d,
    "spot_filter_3d": _run_spots,
    "spot_filter_2d": _run_spots,
    "remove_small_objects": _run_small_objects,
    "fill_holes": _run_holes,
    "union": _run_pointwise,
    "invert": _run_pointwise,
    "mask_image": _run_pointwise,
    "find_local_maxima": _run_object_local,
    "cut_touching_objects": _run_cut,
}


def run_step(context: Context, step, inputs: dict[str, Any]):
    """Run one workflow step block by block; a reference to its (Z, Y, X) output."""
    parameters = get_algorithm(step.algorithm).check_parameters(step.parameters, name=step.algorithm)
    return BLOCKWISE[step.algorithm](context, step, parameters, inputs)
