"""The one input check every public function starts with.

Each check returns a validated array (a new array whenever a conversion is needed, so the caller's
data is never modified) or raises :class:`ValueError` with a message that names the problem and says
how to fix it. Messages are written for a biologist reading them in a notebook.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = [
    "check_image",
    "check_mask",
    "check_labels",
    "check_number",
    "check_choice",
    "check_voxel_size",
    "check_shape",
]


def _describe_shape(array: np.ndarray) -> str:
    return f"{array.ndim}D array of shape {tuple(array.shape)}"


def _check_dimensions(array: np.ndarray, name: str, ndim: int) -> None:
    if array.ndim == ndim:
        return
    if ndim == 3 and array.ndim == 2:
        raise ValueError(
            f"`{name}` is a {_describe_shape(array)}, but a 3D (Z, Y, X) stack is needed. "
            f"To treat a single 2D image as a one-slice stack, pass `{name}[np.newaxis]`, or read "
            "the file with `helpers.io.read_image(path, promote_2d=True)`."
        )
    if ndim == 3 and array.ndim > 3:
        raise ValueError(
            f"`{name}` is a {_describe_shape(array)}, but a 3D (Z, Y, X) stack is needed. "
            "Select one channel (and time point) first, e.g. `image[channel]` for (C, Z, Y, X) "
            "data, or read the file with `helpers.io.read_image(path, channel=..., time=...)`."
        )
    raise ValueError(
        f"`{name}` is a {_describe_shape(array)}, but a {ndim}D array is needed."
    )


def _as_array(value, name: str) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value
    if value is None:
        raise ValueError(f"`{name}` is None; pass a NumPy array.")
    try:
        return np.asarray(value)
    except Exception as error:  # pragma: no cover - exotic inputs
        raise ValueError(f"`{name}` cannot be turned into a NumPy array: {error}") from error


def check_image(image, *, name: str = "image", ndim: int = 3, dtype=np.float32) -> np.ndarray:
    """Validate an intensity image and return it as a ``dtype`` array.

    Parameters
    ----------
    image : array_like, shape (Z, Y, X)
        Intensity image of any real numeric dtype (unsigned or signed integers, floats).
    name : str
        The argument name used in error messages.
    ndim : int
        Required number of dimensions (3 for (Z, Y, X), 2 for a single (Y, X) slice).
    dtype : numpy dtype
        Dtype of the returned array (float32 unless a caller needs otherwise).

    Returns
    -------
    numpy.ndarray
        The image as ``dtype``. It is the input itself only when no conversion was needed;
        callers must never modify it in place.

    Raises
    ------
    ValueError
        For a wrong number of dimensions, an empty array, a boolean, complex or non-numeric
        dtype, or NaN/infinite values.
    """
    array = _as_array(image, name)
    _check_dimensions(array, name, ndim)
    if array.size == 0:
        raise ValueError(
            f"`{name}` is empty (shape {tuple(array.shape)}); check that the file was read "
            "correctly and that no crop removed every voxel."
        )
    if array.dtype == bool:
        raise ValueError(
            f"`{name}` is a boolean mask, but an intensity image is needed. If you meant to pass "
            f"intensities, convert it explicitly with `{name}.astype(np.float32)`."
        )
    if not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(
            f"`{name}` has dtype {array.dtype}, but a real-valued image (integer or float) is "
            "needed. Convert it, e.g. with `np.abs(image)` for complex data."
        )
    if np.issubdtype(array.dtype, np.floating):
        finite = np.isfinite(array)
        if not finite.all():
            n_nan = int(np.isnan(array).sum())
            n_inf = int(array.size - finite.sum()) - n_nan
            raise ValueError(
                f"`{name}` contains {n_nan} NaN and {n_inf} infinite values. Replace them first, "
                f"e.g. `np.nan_to_num({name}, nan=0.0, posinf=0.0, neginf=0.0)`, or crop them away."
            )
    return array.astype(dtype, copy=False)


def check_mask(mask, *, name: str = "mask", ndim: int = 3, like: np.ndarray | None = None) -> np.ndarray:
    """Validate a binary mask and return it as a new-or-same boolean array.

    Boolean arrays and integer arrays (anything > 0 is foreground, as in uint8 0/255 mask
    files or label images) are accepted. Float arrays are refused, because a probability map or
    normalized image must be thresholded explicitly.

    Parameters
    ----------
    mask : array_like, shape (Z, Y, X)
    name : str
        The argument name used in error messages.
    ndim : int
        Required number of dimensions.
    like : numpy.ndarray, optional
        When given, the mask must have this array's shape.

    Returns
    -------
    numpy.ndarray of bool
    """
    array = _as_array(mask, name)
    _check_dimensions(array, name, ndim)
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {tuple(array.shape)}).")
    if array.dtype != bool:
        if np.issubdtype(array.dtype, np.integer):
            array = array > 0
        else:
            raise ValueError(
                f"`{name}` has dtype {array.dtype}, but a binary mask (bool, or integers where "
                f"> 0 means foreground) is needed. Threshold it first, e.g. `{name} > 0.5`."
            )
    if like is not None and array.shape != like.shape:
        raise ValueError(
            f"`{name}` has shape {tuple(array.shape)} but the image has shape "
            f"{tuple(like.shape)}; they must match voxel for voxel."
        )
    return array


def check_labels(labels, *, name: str = "labels", ndim: int = 3, like: np.ndarray | None = None) -> np.ndarray:
    """Validate a label image (non-negative integers, 0 = background)."""
    array = _as_array(labels, name)
    _check_dimensions(array, name, ndim)
    if array.dtype == bool:
        array = array.astype(np.int32)
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(
            f"`{name}` has dtype {array.dtype}, but a label image of integers is needed; "
            "label a mask with `scipy.ndimage.label(mask)[0]`."
        )
    if array.size and array.min() < 0:
        raise ValueError(f"`{name}` has negative labels; labels must be >= 0 (0 = background).")
    if like is not None and array.shape != like.shape:
        raise ValueError(
            f"`{name}` has shape {tuple(array.shape)} but the image has shape "
            f"{tuple(like.shape)}; they must match voxel for voxel."
        )
    return array


def check_probability(probability, *, name: str = "probability", ndims=(2, 3)) -> np.ndarray:
    """Validate a probability map (values in [0, 1], 2D or 3D by default) and return it as float32.

    Raises ValueError naming the problem: the wrong number of dimensions, or values outside [0, 1]
    (with the hint to pass one class of :func:`helpers.inference.predict`'s output).
    """
    ndim = np.ndim(probability)
    if ndim not in ndims:
        shapes = " or ".join({2: "2D (Y, X)", 3: "3D (Z, Y, X)"}[n] for n in ndims)
        raise ValueError(f"`{name}` must be a {shapes} map; got {ndim} dimensions.")
    work = check_image(probability, name=name, ndim=ndim)
    if work.min() < 0 or work.max() > 1:
        raise ValueError(f"`{name}` has values from {work.min():g} to {work.max():g}, but probabilities lie in "
                         "[0, 1]; pass one class of the output of `helpers.inference.predict`.")
    return work


def check_number(
    value,
    name: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
    integer: bool = False,
    hint: str = "",
) -> float | int:
    """Validate a scalar parameter and return it as a Python float (or int).

    Raises ValueError naming the parameter, the allowed range and, when given, a hint.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"`{name}` must be a number, got {value!r}.")
    if integer and not float(value).is_integer():
        raise ValueError(f"`{name}` must be a whole number, got {value!r}.")
    number = int(value) if integer else float(value)
    if not np.isfinite(number):
        raise ValueError(f"`{name}` must be finite, got {value!r}.")
    too_low = minimum is not None and (number < minimum if min_inclusive else number <= minimum)
    too_high = maximum is not None and (number > maximum if max_inclusive else number >= maximum)
    if too_low or too_high:
        low = "-inf" if minimum is None else f"{minimum:g}"
        high = "inf" if maximum is None else f"{maximum:g}"
        bracket = ("[" if min_inclusive else "(") + f"{low}, {high}" + ("]" if max_inclusive else ")")
        message = f"`{name}` = {value!r} is out of range; it must lie in {bracket}."
        if hint:
            message += " " + hint
        raise ValueError(message)
    return number


def check_choice(value, name: str, choices) -> str:
    """Validate a method name against the allowed choices (case-insensitive)."""
    choices = tuple(choices)
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    raise ValueError(
        f"`{name}` = {value!r} is not a known method; choose one of: {', '.join(choices)}."
    )


def check_voxel_size(voxel_size, *, unknown=None):
    """Validate a (Z, Y, X) voxel size in micrometres and return it as three floats.

    ``None`` (a file that does not record its voxel size) gives ``unknown``: None for readers and
    writers, ``(1.0, 1.0, 1.0)`` (isotropic) for the viewers.
    """
    if voxel_size is None:
        return unknown
    try:
        values = tuple(float(v) for v in voxel_size)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise ValueError(
            "`voxel_size` must be three positive numbers (z, y, x) in micrometres, e.g. "
            f"(0.29, 0.108, 0.108); got {voxel_size!r}. Use `image.voxel_size` from "
            "`helpers.io.read_image`, or None when the size is unknown."
        )
    return values


def check_shape(shape, name: str, *, ndim: int = 3, minimum: int = 1, axes: str = "") -> tuple[int, ...]:
    """Validate a size per axis (a shape, a tile, a halo) and return it as a tuple of ints.

    Parameters
    ----------
    shape : sequence of int
        ``ndim`` whole numbers, each >= ``minimum``.
    name : str
        The argument name used in error messages.
    axes : str
        How to name the axes in messages, e.g. "(Z, Y, X)"; default: Z, Y, X for 3 axes.
    """
    axes = axes or {3: "(Z, Y, X)", 2: "(Y, X)"}.get(ndim, f"({ndim} axes)")
    try:
        values = tuple(shape)
    except TypeError:
        values = ()
    if (len(values) != ndim
            or any(isinstance(v, bool) or not isinstance(v, numbers.Real) or float(v) != int(v) for v in values)
            or any(v < minimum for v in values)):
        raise ValueError(f"`{name}` must be {ndim} whole numbers >= {minimum}, one per axis {axes} (no batch or "
                         f"channel axis); got {shape!r}.")
    return tuple(int(v) for v in values)
