"""Training data for the networks: a folder of image / ground truth / cost map triples, and patches.

The folder follows the reference's naming, which the curation notebooks write::

    img_001.ome.tif       the raw image (Z, Y, X)
    img_001_GT.ome.tif    its ground truth: a mask (0 / 255 or 0 / 1) or class labels 0 .. n-1
    img_001_CM.ome.tif    optional cost map: a weight per voxel (0 excludes it; 1 when absent)

Every image is normalized the same way at training and at prediction time, with one of the
classic normalizations of the registry (``{"algorithm": "auto_contrast", "parameters": {...}}``);
the checkpoint stores it. :class:`PatchSampler` draws batches of random patches from randomly
augmented images: a rotation about z by an angle in [0, pi), flips, optional Gaussian noise and
intensity jitter. Voxels outside the image (padding, the corners a rotation brings in) get cost 0,
so they never count.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._checks import check_shape

__all__ = ["TrainingImage", "find_training_images", "write_training_example", "load_training_image", "normalize",
           "check_normalization", "DEFAULT_NORMALIZATION",
           "Augmentation", "PatchSampler", "split_validation"]

#: Normalization used when a configuration names none: auto-contrast with the registry's defaults.
DEFAULT_NORMALIZATION = {"algorithm": "auto_contrast", "parameters": {"lower_sd": 2.0, "upper_sd": 10.0}}
_NORMALIZATIONS = ("min_max_normalize", "auto_contrast", "auto_contrast_in_range")
_IMAGE_SUFFIX = re.compile(r"\.(ome\.tiff?|tiff?)$", re.IGNORECASE)


@dataclass(frozen=True)
class TrainingImage:
    """One training example: the files of an image, its ground truth and its optional cost map."""

    name: str
    image: Path
    truth: Path
    cost: Path | None = None


def _stem(path: Path) -> str | None:
    match = _IMAGE_SUFFIX.search(path.name)
    return path.name[: match.start()] if match else None


def find_training_images(folder) -> list[TrainingImage]:
    """The training examples in ``folder``, sorted by name.

    Raises
    ------
    FileNotFoundError
        When the folder does not exist.
    ValueError
        When it holds no image, or an image without ground truth, or a truth or cost map without
        its image (the message lists them).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"The training folder {folder} does not exist.")
    stems = {}
    for path in sorted(folder.iterdir()):
        stem = _stem(path) if path.is_file() else None
        if stem is not None:
            stems[stem] = path
    raws = {s: p for s, p in stems.items() if not s.endswith(("_GT", "_CM"))}
    orphans = sorted(p.name for s, p in stems.items() if s.endswith(("_GT", "_CM")) and s[:-3] not in raws)
    missing = sorted(p.name for s, p in raws.items() if f"{s}_GT" not in stems)
    if missing or orphans:
        problems = []
        if missing:
            problems.append(f"images without a ground truth <name>_GT.ome.tif: {', '.join(missing)}")
        if orphans:
            problems.append(f"ground truths or cost maps without their image: {', '.join(orphans)}")
        raise ValueError(f"The training folder {folder} is incomplete: {'; '.join(problems)}. Each image "
                         "img_001.ome.tif needs img_001_GT.ome.tif (and may have img_001_CM.ome.tif).")
    if not raws:
        raise ValueError(f"The training folder {folder} holds no image; put img_001.ome.tif, img_001_GT.ome.tif "
                         "(and optionally img_001_CM.ome.tif) pairs in it, e.g. from the curation notebooks.")
    return [TrainingImage(s, p, stems[f"{s}_GT"], stems.get(f"{s}_CM")) for s, p in raws.items()]


def write_training_example(folder, name: str, image, truth, *, cost=None, voxel_size=None,
                           overwrite: bool = False) -> TrainingImage:
    """Write one example in the folder convention: ``name.ome.tif``, ``name_GT.ome.tif`` (uint8 0/255
    for a mask, class labels otherwise) and, when given, ``name_CM.ome.tif`` (float32 weights).

    Nothing is overwritten unless ``overwrite``; the folder is created when missing.
    """
    from ._checks import check_image
    from .io import write_image, write_mask

    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name) or name.endswith(("_GT", "_CM")):
        raise ValueError(f"`name` must be a plain file name such as 'img_001' (not ending in _GT or _CM), got {name!r}.")
    image = check_image(image, dtype=np.asarray(image).dtype)
    truth = np.asarray(truth)
    if truth.shape != image.shape:
        raise ValueError(f"`truth` has shape {truth.shape} but `image` has {image.shape}; they must match.")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.ome.tif", folder / f"{name}_GT.ome.tif"]
    if cost is not None:
        paths.append(folder / f"{name}_CM.ome.tif")
    existing = [p.name for p in paths if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist in {folder} and were left untouched; "
                              "choose another name or pass overwrite=True.")
    write_image(paths[0], image, voxel_size=voxel_size, overwrite=overwrite)
    if truth.dtype == bool or set(np.unique(truth).tolist()) <= {0, 1, 255}:
        write_mask(paths[1], truth > 0, voxel_size=voxel_size, overwrite=overwrite)
    else:
        write_image(paths[1], truth.astype(np.uint8), voxel_size=voxel_size, overwrite=overwrite)
    if cost is not None:
        cost = np.asarray(cost, dtype=np.float32)
        if cost.shape != image.shape or not np.isfinite(cost).all() or cost.min() < 0:
            raise ValueError("`cost` must have the image's shape and finite values >= 0 (0 excludes a voxel).")
        write_image(paths[2], cost, voxel_size=voxel_size, overwrite=overwrite)
    return TrainingImage(name, paths[0], paths[1], paths[2] if cost is not None else None)


def check_normalization(normalization) -> dict:
    """The normalization in full form (every parameter given), or a ValueError saying what is wrong."""
    from .registry import get_algorithm

    if normalization is None:
        return dict(DEFAULT_NORMALIZATION)
    if not isinstance(normalization, dict) or normalization.get("algorithm") not in _NORMALIZATIONS:
        raise ValueError(f"`normalization` must be {{'algorithm': one of {', '.join(_NORMALIZATIONS)}, "
                         f"'parameters': {{...}}}}; got {normalization!r}.")
    algorithm = get_algorithm(normalization["algorithm"])
    parameters = algorithm.check_parameters(dict(normalization.get("parameters", {})),
                                            name=normalization["algorithm"], what="normalization parameter")
    return {"algorithm": normalization["algorithm"], "parameters": parameters}


def normalize(image, normalization=None) -> np.ndarray:
    """The (Z, Y, X) image normalized as ``normalization`` says (see module docstring); float32."""
    from .registry import get_algorithm

    normalization = check_normalization(normalization)
    algorithm = get_algorithm(normalization["algorithm"])
    return np.asarray(algorithm.call({"image": image}, normalization["parameters"]), dtype=np.float32)


def _truth_classes(truth: np.ndarray, source) -> np.ndarray:
    values = np.unique(truth)
    if truth.dtype == bool or set(values.tolist()) <= {0, 255} or set(values.tolist()) <= {0, 1}:
        return (truth > 0).astype(np.int64)
    if not np.issubdtype(truth.dtype, np.integer) or values.min() < 0 or values.max() > 255:
        raise ValueError(f"{source}: the ground truth must be a mask (0/255 or 0/1) or class labels 0..n-1 "
                         f"(whole numbers below 256); found values {values[:8].tolist()}...")
    return truth.astype(np.int64)


def load_training_image(item: TrainingImage, normalization=None):
    """(normalized image float32, classes int64, cost float32), all (Z, Y, X), for one example."""
    from .io import read_image

    image = read_image(item.image).data
    truth = read_image(item.truth).data
    if truth.shape != image.shape:
        raise ValueError(f"{item.truth.name} has shape {truth.shape} but {item.image.name} has {image.shape}; "
                         "the ground truth must cover the image voxel for voxel.")
    classes = _truth_classes(truth, item.truth.name)
    if item.cost is None:
        cost = np.ones(image.shape, np.float32)
    else:
        cost = read_image(item.cost).data.astype(np.float32)
        if cost.shape != image.shape:
            raise ValueError(f"{item.cost.name} has shape {cost.shape} but {item.image.name} has {image.shape}.")
        if not np.isfinite(cost).all() or cost.min() < 0:
            raise ValueError(f"{item.cost.name}: a cost map must hold finite values >= 0 (0 excludes a voxel).")
    return normalize(image, normalization), classes, cost


def split_validation(items: list, fraction: float, seed: int) -> tuple[list, list]:
    """(training, validation) items: ``fraction`` of the images (at least one when fraction > 0 and
    there are two or more images) are kept aside, chosen reproducibly from ``seed``."""
    if not 0 <= fraction < 1:
        raise ValueError(f"`validation_fraction` must be in [0, 1), got {fraction!r}.")
    if fraction == 0 or len(items) < 2:
        return list(items), []
    count = max(1, round(fraction * len(items)))
    order = np.random.default_rng(seed).permutation(len(items))
    held = set(order[:count].tolist())
    return [x for i, x in enumerate(items) if i not in held], [x for i, x in enumerate(items) if i in held]


@dataclass(frozen=True)
class Augmentation:
    """Random changes applied to every patch drawn for training.

    Attributes
    ----------
    rotate : bool
        Rotate about z by an angle drawn from [0, pi) (the reference's augmentation).
    flip : bool
        Flip x with probability 0.5 (the reference's horizontal flip) and, independently, y.
    noise_sd : float
        Standard deviation of Gaussian noise added to the normalized image (0: none).
    noise_mean : float
        Mean of that noise (the membrane 3D U-Net paper adds noise of a chosen mean and standard
        deviation); with ``noise_sd`` 0 it is a constant offset. Default 0.
    intensity_jitter : float
        Multiply the patch by 1 + u and add v, u and v drawn from [-jitter, jitter] (0: none).
    """

    rotate: bool = True
    flip: bool = True
    noise_sd: float = 0.0
    intensity_jitter: float = 0.0
    noise_mean: float = 0.0

    def __post_init__(self):
        if self.noise_sd < 0 or self.intensity_jitter < 0 or self.intensity_jitter >= 1:
            raise ValueError("Augmentation: noise_sd must be >= 0 and intensity_jitter in [0, 1).")
        if not np.isfinite(self.noise_mean) or abs(self.noise_mean) >= 1:
            raise ValueError(f"Augmentation: noise_mean must be a finite number in (-1, 1) (the image is "
                             f"normalized to about [0, 1]); got {self.noise_mean!r}.")


def _rotate_patch(arrays, angle_degrees):
    from scipy import ndimage

    image, classes, cost = arrays
    kwargs = {"axes": (1, 2), "reshape": False, "mode": "constant"}
    image = ndimage.rotate(image, angle_degrees, order=1, cval=0.0, **kwargs)
    classes = ndimage.rotate(classes, angle_degrees, order=0, cval=0, **kwargs)
    cost = ndimage.rotate(cost, angle_degrees, order=0, cval=0.0, **kwargs)  # corners brought in: excluded
    return image, classes, cost


class PatchSampler:
    """Batches of random training patches from a list of (image, classes, cost) triples.

    Parameters
    ----------
    examples : list of tuple
        (normalized image float32, classes int64, cost float32), each (Z, Y, X), from
        :func:`load_training_image`.
    input_shape, output_shape : tuple of int
        The network's input patch and the output it gives (smaller for unpadded networks: the truth
        and cost are centre-cropped to it).
    augmentation : Augmentation or None
        None for validation patches.
    seed : int
        Seed of the sampler's random generator.
    """

    def __init__(self, examples, input_shape, output_shape, *, augmentation: Augmentation | None = None,
                 seed: int = 0):
        if not examples:
            raise ValueError("No training examples to draw patches from.")
        self.input_shape = check_shape(input_shape, "input_shape")
        self.output_shape = check_shape(output_shape, "output_shape")
        margin = [i - o for i, o in zip(self.input_shape, self.output_shape)]
        if any(m < 0 or m % 2 for m in margin):
            raise ValueError(f"The output {self.output_shape} must be centred in the input {self.input_shape} "
                             "(an even, non-negative difference per axis).")
        self.augmentation = augmentation
        self.rng = np.random.default_rng(seed)
        # A rotated patch is cut from a larger square around it, so that no corner comes from outside.
        side = max(self.input_shape[1:])
        self._rotation_extra = (math.ceil(side * math.sqrt(2)) - side) // 2 + 1 if augmentation and augmentation.rotate else 0
        self._examples = [self._pad(*example) for example in examples]

    def _pad(self, image, classes, cost):
        """Pad so that every image voxel can sit anywhere in an output patch, with context around it."""
        extra = (0, self._rotation_extra, self._rotation_extra)
        padding = []
        for axis in range(3):
            half_margin = (self.input_shape[axis] - self.output_shape[axis]) // 2
            shortfall = max(0, self.input_shape[axis] + 2 * extra[axis] - image.shape[axis])
            before = half_margin + extra[axis] + shortfall // 2
            after = half_margin + extra[axis] + shortfall - shortfall // 2
            padding.append((before, after))
        mode = "reflect" if all(b < n and a < n for (b, a), n in zip(padding, image.shape)) else "edge"
        return (np.pad(image, padding, mode=mode), np.pad(classes, padding), np.pad(cost, padding))

    def _one(self):
        image, classes, cost = self._examples[self.rng.integers(len(self._examples))]
        extra = (0, self._rotation_extra, self._rotation_extra)
        window = [n + 2 * e for n, e in zip(self.input_shape, extra)]
        start = [int(self.rng.integers(0, s - w + 1)) for s, w in zip(image.shape, window)]
        region = tuple(slice(a, a + w) for a, w in zip(start, window))
        patch = [image[region], classes[region], cost[region]]
        augmentation = self.augmentation
        if augmentation is not None and augmentation.rotate:
            patch = list(_rotate_patch(patch, float(self.rng.uniform(0.0, 180.0))))
        inner = tuple(slice(e, e + n) for e, n in zip(extra, self.input_shape))
        patch = [p[inner] for p in patch]
        if augmentation is not None and augmentation.flip:
            for axis in (2, 1):
                if self.rng.random() < 0.5:
                    patch = [np.flip(p, axis=axis) for p in patch]
        image_patch = np.ascontiguousarray(patch[0], dtype=np.float32)
        if augmentation is not None and augmentation.intensity_jitter:
            j = augmentation.intensity_jitter
            image_patch = image_patch * np.float32(1 + self.rng.uniform(-j, j)) + np.float32(self.rng.uniform(-j, j))
        if augmentation is not None and (augmentation.noise_sd or augmentation.noise_mean):
            noise = self.rng.normal(augmentation.noise_mean, augmentation.noise_sd, image_patch.shape)
            image_patch = image_patch + noise.astype(np.float32)
        crop = tuple(slice((i - o) // 2, (i - o) // 2 + o) for i, o in zip(self.input_shape, self.output_shape))
        return image_patch, np.ascontiguousarray(patch[1][crop]), np.ascontiguousarray(patch[2][crop])

    def batch(self, size: int):
        """(images (N, 1, *input) float32, classes (N, *output) int64, costs (N, *output) float32) as NumPy."""
        if size < 1:
            raise ValueError(f"The batch size must be at least 1, got {size}.")
        patches = [self._one() for _ in range(size)]
        return (np.stack([p[0] for p in patches])[:, None], np.stack([p[1] for p in patches]),
                np.stack([p[2] for p in patches]))
