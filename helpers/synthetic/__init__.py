"""Synthetic 3D images of the 20 lookup-table structures, with ground truth.

Nothing can be downloaded at run time, so the notebooks' sample images are drawn here: a packed colony
of hiPS cells (``_cells``), the structure drawn as geometry where the biology puts it (one module per
family of patterns), seen through an anisotropic point spread function, uneven illumination and a
camera with shot and read noise (``_microscope``).

Ground truth, the same rule for every pattern: the voxels whose centre lies inside the drawn
structure (tube, sheet, vesicle, blob), with every object at least as thick as the point spread
function's full width at half maximum, because that is how wide its image is. It is the boundary at
half maximum of each object's own blurred image, computed from the geometry rather than from the
noisy image, so it says where the structure is, independent of its brightness: objects in dim cells
count as much as objects in bright ones. For lysosomes (LAMP1) and nucleoli the object is the whole
compartment, lumen included, as the paper segments them.

Beside the lookup-table samples, modules imported by name draw the data of the analysis notebooks:
``lamin_set`` (the lamin B1 fields of the iterative loop), ``em_nucleus`` (a FIB-SEM-like nucleus in
five classes, one of them ignored in training), ``em_cells`` (SBF-EM-like cells with membranes, nuclei
and mitochondria) and ``membranes`` (a packed tissue imaged by its membranes, with the cell labels).

Examples
--------
>>> from helpers import synthetic
>>> sample = synthetic.make_sample("lmnb1_interphase", shape=(40, 128, 128), seed=0)
>>> sample.image.dtype, sample.image.shape, sample.voxel_size
(dtype('uint16'), (40, 128, 128), (0.29, 0.108, 0.108))
"""

from __future__ import annotations

from ._cells import Cells
from ._microscope import Microscope
from ._pattern import Pattern, Sample, Structure, render
from . import curvilinear, dots, envelopes, filaments, golgi, nucleoli, sarcomeres

__all__ = ["PATTERNS", "Pattern", "Sample", "Structure", "Cells", "Microscope", "make_sample",
           "pattern_names", "SAMPLE_SHAPE"]

#: Shape (Z, Y, X) of the shipped samples.
SAMPLE_SHAPE = (40, 192, 192)

PATTERNS: dict[str, Pattern] = {p.name: p for module in (curvilinear, envelopes, filaments, sarcomeres, dots, nucleoli, golgi) for p in module.PATTERNS}


def pattern_names() -> list[str]:
    """The names of the patterns, the same as the preset names, sorted."""
    return sorted(PATTERNS)


def make_sample(name: str, *, shape=SAMPLE_SHAPE, seed: int = 0) -> Sample:
    """Draw the synthetic sample of one structure.

    Parameters
    ----------
    name : str
        A pattern name, the same as its preset's (see :func:`pattern_names`).
    shape : (Z, Y, X) ints
        Size of the field in voxels; at least 16 x 64 x 64. Cells keep their real size, so a small
        field shows parts of a few cells and may hold none of a sparse structure (a nucleolus, a
        centrosome); use at least 40 x 128 x 128 for a field that is sure to show it.
    seed : int
        The same name, shape and seed give the same image and truth, voxel for voxel.

    Returns
    -------
    Sample
        ``image`` (Z, Y, X) uint16, ``truth`` (bool, or int32 labels for countable objects),
        ``voxel_size`` (z, y, x) in micrometres, and the ``cells`` it was drawn in.
    """
    if name not in PATTERNS:
        raise ValueError(f"No synthetic pattern named {name!r}. Choose one of: {', '.join(pattern_names())}.")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[0] < 16 or min(shape[1:]) < 64:
        raise ValueError(f"shape must be (Z, Y, X) with Z >= 16 and Y, X >= 64; got {shape}.")
    return render(PATTERNS[name], shape, seed)
