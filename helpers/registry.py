"""The registry of building blocks: what each workflow step may call, with which inputs and parameters.

One table serves three purposes: validating preset files (unknown algorithm or parameter,
out-of-range value), running a workflow (which function, which inputs), and, in the notebooks,
building one slider per parameter from its range and step. The ranges are the reference tool's
slider ranges (LOOKUP_TABLE.md); a preset or a tuned workflow must stay inside them.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field
from typing import Any, Callable

from . import filaments, morphology, normalization, smoothing, spots, thresholds, watershed

__all__ = ["Parameter", "Algorithm", "ALGORITHMS", "STAGES", "get_algorithm"]

#: The three stages of a classic workflow, in order.
STAGES = ("pre-processing", "core", "post-processing")


@dataclass(frozen=True)
class Parameter:
    """One parameter of a building block.

    Attributes
    ----------
    kind : str
        "float", "int", "bool", "choice" or "scales" (a list of (sigma, cutoff) pairs).
    minimum, maximum : float
        Allowed range (for "scales": of the cutoff; sigma uses ``sigma_range``).
    step : float
        Slider step.
    default : Any
        Used when a step omits the parameter.
    description : str
        One line for tooltips and ``segmenter show``.
    choices : tuple of str
        For "choice".
    optional : bool
        None is allowed (e.g. no upper bound).
    sigma_range, sigma_step : for "scales", the range and step of sigma (sigma must be > 0).
    """

    kind: str
    description: str
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    default: Any = None
    choices: tuple = ()
    optional: bool = False
    sigma_range: tuple[float, float] = (0.0, 0.0)
    sigma_step: float = 0.0

    def check(self, value, where: str) -> Any:
        """Return the value in canonical form or raise ValueError starting with ``where``."""
        if value is None and self.optional:
            return None
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}.")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"{where} = {value!r} is not allowed; choose one of {', '.join(self.choices)}.")
            return value
        if self.kind == "scales":
            return self._check_scales(value, where)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{where} must be a number, got {value!r}.")
        if self.kind == "int":
            if float(value) != int(value):
                raise ValueError(f"{where} must be a whole number, got {value!r}.")
            value = int(value)
        else:
            value = float(value)
        self._check_range(value, self.minimum, self.maximum, where)
        return value

    @staticmethod
    def _check_range(value, low, high, where, low_exclusive=False):
        too_low = low is not None and (value <= low if low_exclusive else value < low)
        if too_low or (high is not None and value > high):
            bracket = "(" if low_exclusive else "["
            raise ValueError(f"{where} = {value!r} is out of range; use a value in {bracket}{low:g}, {high:g}].")

    def _check_scales(self, value, where):
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError(f"{where} must be a non-empty list of [sigma, cutoff] pairs, e.g. [[1, 0.01]].")
        pairs = []
        for index, pair in enumerate(value):
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in pair)):
                raise ValueError(f"{where}[{index}] must be a [sigma, cutoff] pair of numbers, got {pair!r}.")
            sigma, cutoff = float(pair[0]), float(pair[1])
            self._check_range(sigma, self.sigma_range[0], self.sigma_range[1], f"{where}[{index}] sigma",
                              low_exclusive=True)
            self._check_range(cutoff, self.minimum, self.maximum, f"{where}[{index}] cutoff")
            pairs.append([sigma, cutoff])
        return pairs


@dataclass(frozen=True)
class Algorithm:
    """A building block as a workflow step can use it.

    ``inputs`` names the function's positional inputs in order, each "image", "mask", "labels" or
    "any"; a name ending in "*" takes a list of step ids (e.g. the masks of a union).
    ``stage`` is where the block sits in a workflow ("pre-processing", "core" or "post-processing");
    the tuning panel groups its sliders by it. ``whole_image`` marks blocks whose value at a voxel
    depends on statistics of the whole image (the normalizations): a preview on a region still runs
    them on the whole image, so that its intensities match the full run.
    """

    function: Callable
    label: str
    description: str
    inputs: tuple[tuple[str, str], ...]
    parameters: dict[str, Parameter] = field(default_factory=dict)
    stage: str = "core"
    whole_image: bool = False

    def check_parameters(self, given: dict, *, name: str, what: str = "parameter") -> dict[str, Any]:
        """Every parameter of this block, checked, with the defaults for those not ``given``.

        Raises ValueError for an unknown parameter (naming the allowed ones) or a value out of range;
        ``name`` is the algorithm's registry name and ``what`` how the messages call a parameter.
        """
        unknown = sorted(set(given) - set(self.parameters))
        if unknown:
            raise ValueError(f"unknown {what}(s) {', '.join(unknown)} for {name}; allowed: "
                             f"{', '.join(self.parameters) or 'none'}.")
        return {key: spec.check(given.get(key, spec.default), f"{what} {key!r}") for key, spec in self.parameters.items()}

    def call(self, arrays: dict[str, Any], parameters: dict[str, Any]):
        positional = []
        for name, _ in self.inputs:
            value = arrays[name]
            positional.extend(value if name.endswith("*") else [value])
        keywords = {k: (tuple(map(tuple, v)) if self.parameters[k].kind == "scales" else v)
                    for k, v in parameters.items()}
        return self.function(*positional, **keywords)


def _scales(sigma_max, sigma_step, cutoff_max, cutoff_step, cutoff_min=0.0, description=""):
    return Parameter("scales", description, minimum=cutoff_min, maximum=cutoff_max, step=cutoff_step,
                     sigma_range=(0.0, sigma_max), sigma_step=sigma_step)


_SIGMA_SMOOTH = Parameter("float", "Gaussian standard deviation in voxels", 0.5, 10, 0.5, 1.0)
_SIZE = Parameter("int", "smallest object kept, in voxels", 0, 500, 1, 5)
_PER_SLICE = Parameter("bool", "count sizes per z-slice in 2D instead of in 3D", default=False)

ALGORITHMS: dict[str, Algorithm] = {
    "min_max_normalize": Algorithm(
        normalization.min_max_normalize, "MM", "min-max normalization, optional outlier bound",
        (("image", "image"),),
        {"upper_bound": Parameter("float", "raw intensity above which voxels are outliers (none: no bound)",
                                  50, 10000, 50, None, optional=True)},
        stage="pre-processing", whole_image=True),
    "auto_contrast": Algorithm(
        normalization.auto_contrast, "AC", "auto-contrast: clip to mean - a sd ... mean + b sd, rescale",
        (("image", "image"),),
        {"lower_sd": Parameter("float", "standard deviations kept below the mean (a)", -10, 30, 0.005, 2.0),
         "upper_sd": Parameter("float", "standard deviations kept above the mean (b)", -10, 200, 0.005, 10.0)},
        stage="pre-processing", whole_image=True),
    "auto_contrast_in_range": Algorithm(
        normalization.auto_contrast_in_range, "AC4", "auto-contrast with statistics from an intensity window",
        (("image", "image"),),
        {"lower_sd": Parameter("float", "standard deviations below the window", -10, 30, 0.005, 2.0),
         "upper_sd": Parameter("float", "standard deviations above the window", -10, 200, 0.005, 10.0),
         "lower_intensity": Parameter("float", "lower raw intensity of the window", 0, 65535, 1, 0.0),
         "upper_intensity": Parameter("float", "upper raw intensity of the window", 0, 65535, 1, 65535.0)},
        stage="pre-processing", whole_image=True),
    "gaussian_smooth_3d": Algorithm(
        smoothing.gaussian_smooth_3d, "G3", "3D Gaussian smoothing", (("image", "image"),),
        {"sigma": _SIGMA_SMOOTH},
        stage="pre-processing"),
    "gaussian_smooth_2d": Algorithm(
        smoothing.gaussian_smooth_2d, "G2", "Gaussian smoothing of each z-slice", (("image", "image"),),
        {"sigma": _SIGMA_SMOOTH},
        stage="pre-processing"),
    "edge_preserving_smooth": Algorithm(
        smoothing.edge_preserving_smooth, "ES", "edge-preserving smoothing (anisotropic diffusion)",
        (("image", "image"),),
        {"iterations": Parameter("int", "diffusion steps", 1, 50, 1, 10),
         "conductance": Parameter("float", "larger smooths across stronger edges", 0.1, 10, 0.1, 1.2),
         "time_step": Parameter("float", "step size (stable up to 0.0625)", 0.005, 0.0625, 0.005, 0.0625)},
        stage="pre-processing"),
    "filament_filter_3d": Algorithm(
        filaments.filament_filter_3d, "F3", "3D filament filter: [sigma, cutoff] pairs OR-ed",
        (("image", "image"),),
        {"scales": _scales(5, 0.05, 0.5, 0.005, 0.005, "[sigma (voxels), cutoff] pairs")}),
    "filament_filter_2d": Algorithm(
        filaments.filament_filter_2d, "F2", "2D filament filter per slice: [sigma, cutoff] pairs OR-ed",
        (("image", "image"),),
        {"scales": _scales(5, 0.5, 0.5, 0.005, 0.005, "[sigma (pixels), cutoff] pairs")}),
    "spot_filter_3d": Algorithm(
        spots.spot_filter_3d, "S3", "3D spot filter (LoG): [sigma, cutoff] pairs OR-ed", (("image", "image"),),
        {"scales": _scales(10, 0.05, 0.5, 0.001, 0.0, "[sigma (voxels), cutoff] pairs")}),
    "spot_filter_2d": Algorithm(
        spots.spot_filter_2d, "S2", "2D spot filter per slice (LoG): [sigma, cutoff] pairs OR-ed",
        (("image", "image"),),
        {"scales": _scales(10, 0.05, 1.0, 0.001, 0.0, "[sigma (pixels), cutoff] pairs")}),
    "masked_object_threshold_low": Algorithm(
        thresholds.masked_object_threshold_low, "MO low", "masked-object threshold, low level (object extent)",
        (("image", "image"),),
        {"method": Parameter("choice", "global threshold", default="triangle",
                             choices=("triangle", "median", "ave_tri_med")),
         "min_size": Parameter("int", "smallest object kept, in voxels", 0, 2000, 50, 700),
         "dilate": Parameter("bool", "grow objects by a ball of radius 2", default=False)}),
    "masked_object_threshold_high": Algorithm(
        thresholds.masked_object_threshold_high, "MO high", "masked-object threshold, high level (Otsu per object)",
        (("image", "image"), ("objects", "mask")),
        {"local_adjust": Parameter("float", "factor on each object's Otsu threshold", 0, 2, 0.02, 1.0),
         "extra_criteria": Parameter("bool", "drop objects much dimmer than the image", default=False)}),
    "remove_small_objects": Algorithm(
        morphology.remove_small_objects, "SIZE", "remove objects smaller than min_size voxels",
        (("mask", "mask"),), {"min_size": _SIZE, "per_slice": _PER_SLICE},
        stage="post-processing"),
    "fill_holes": Algorithm(
        morphology.fill_holes, "HOLES", "fill holes with sizes in [min_size, max_size]", (("mask", "mask"),),
        {"min_size": Parameter("int", "smallest hole filled, in voxels", 0, 50, 1, 0),
         "max_size": Parameter("int", "largest hole filled, in voxels", 0, 10000, 1, 1000),
         "per_slice": Parameter("bool", "fill holes in each z-slice in 2D", default=True)},
        stage="post-processing"),
    "thin": Algorithm(
        morphology.thin, "THIN", "topology-preserving thinning", (("mask", "mask"),),
        {"min_thickness": Parameter("float", "half the width kept from thinning, in pixels", 1, 10, 1, 1.0),
         "thin": Parameter("int", "pixels removed from the outer boundary", 1, 200, 1, 1)},
        stage="post-processing"),
    "union": Algorithm(morphology.union, "OR", "voxel-wise union of masks", (("masks*", "mask"),),
        stage="post-processing"),
    "invert": Algorithm(morphology.invert, "INVERT", "1 - x for a normalized image; NOT for a mask",
                        (("image", "any"),), stage="post-processing"),
    "mask_image": Algorithm(
        morphology.mask_image, "MASK", "set the image to a value where the mask is on",
        (("image", "any"), ("mask", "mask")),
        {"value": Parameter("float", "value written under the mask", 0, 1, 1, 0.0)},
        stage="post-processing"),
    "find_local_maxima": Algorithm(
        watershed.find_local_maxima, "MAXIMA", "local maxima of the image inside each object",
        (("image", "image"), ("mask", "mask")),
        {"min_distance": Parameter("int", "minimum distance between peaks, in voxels", 1, 10, 1, 2)}),
    "cut_touching_objects": Algorithm(
        watershed.cut_touching_objects, "WCUT", "cut touching objects by a watershed from seeds",
        (("mask", "mask"), ("seeds", "mask")),
        {"min_size": Parameter("int", "smallest cut piece kept, in voxels (0: all)", 0, 500, 1, 0)},
        stage="post-processing"),
    "shell_seeds": Algorithm(
        watershed.shell_seeds, "SHELL_SEEDS", "one seed per object enclosed by a shell, on the middle slice",
        (("image", "image"),),
        {"scales": _scales(5, 0.5, 0.5, 0.005, 0.005, "F2 [sigma, cutoff] pairs on the middle slice"),
         "min_area": Parameter("int", "smallest interior area, in pixels", 0, 1000, 100, 400),
         "max_area": Parameter("int", "largest interior area, in pixels", 0, 50000, 100, 40000),
         "background_seed": Parameter("bool", "add a background seed on the first slice", default=True)}),
    "seeded_watershed": Algorithm(
        watershed.seeded_watershed, "WSEG", "watershed of the image from seeds",
        (("image", "image"), ("seeds", "labels")),
        {"watershed_line": Parameter("bool", "separate objects by one-voxel lines", default=True)}),
    "drop_background_object": Algorithm(
        watershed.drop_background_object, "drop background", "the objects other than the background seed's",
        (("labels", "labels"),),
        stage="post-processing"),
    "object_boundaries": Algorithm(
        watershed.object_boundaries, "BOUNDARY", "boundary voxels of the objects", (("labels", "labels"),),
        {"connectivity": Parameter("int", "neighbourhood: 1 faces, 2 edges, 3 corners", 1, 3, 1, 1),
         "mode": Parameter("choice", "which side of the boundary", default="thick",
                           choices=("thick", "inner", "outer"))},
        stage="post-processing"),
}


def get_algorithm(name: str, where: str = "") -> Algorithm:
    """The registered algorithm ``name``, or a ValueError listing the close names."""
    import difflib

    if name in ALGORITHMS:
        return ALGORITHMS[name]
    close = difflib.get_close_matches(str(name), ALGORITHMS, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else f" Known: {', '.join(sorted(ALGORITHMS))}."
    raise ValueError(f"{where}unknown algorithm {name!r}.{hint}")
