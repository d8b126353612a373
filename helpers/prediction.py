"""A trained network as a segmenter of files: ``segmenter predict CHECKPOINT INPUT... -o OUTDIR``.

:class:`ModelSegmenter` wraps a checkpoint so that the batch runner of :mod:`helpers.batch` applies
it like a workflow: for every input it normalizes the image as in training, predicts it tile by
tile (:func:`helpers.inference.predict`), and writes ``NAME_prob.ome.tif`` (the foreground
probability, float32), ``NAME_seg.ome.tif`` (the mask at ``threshold``, uint8 0/255; for more than
two classes the most probable class per voxel) and ``NAME_seg.json`` (the record: checkpoint and
its SHA-256, threshold, input, timings). Batches are resumable, as for ``segmenter run``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ._checks import check_number, check_shape

__all__ = ["ModelSegmenter", "predict_image"]


def predict_image(checkpoint, image, *, tile_shape=None, batch_size: int = 1, progress: bool = False) -> np.ndarray:
    """Class probabilities (n_classes, Z, Y, X) float32 of a raw (Z, Y, X) image under a loaded checkpoint."""
    from .inference import predict
    from .training_data import normalize

    normalized = normalize(image, checkpoint.normalization)
    device = next(checkpoint.model.parameters()).device
    return predict(checkpoint.model, normalized, tile_shape=tile_shape, batch_size=batch_size, device=device,
                   progress=progress)


class ModelSegmenter:
    """A checkpoint and prediction settings, usable wherever :mod:`helpers.batch` takes a workflow.

    Parameters
    ----------
    checkpoint : str or os.PathLike
        A file written by ``segmenter train`` (:mod:`helpers.checkpoints`).
    threshold : float
        Foreground probability above which a voxel is in the mask, in (0, 1).
    tile_shape : tuple of int, optional
        Input tile (Z, Y, X); default: chosen by :func:`helpers.inference.predict`.
    batch_size : int
        Tiles per forward pass.
    device : str, optional
        "cpu", "cuda" or None (CUDA when available).
    """

    def __init__(self, checkpoint, *, threshold: float = 0.5, tile_shape=None, batch_size: int = 1, device=None):
        from .batch import file_checksum

        self.path = Path(checkpoint)
        if not self.path.is_file():
            raise FileNotFoundError(f"No checkpoint file at {self.path}.")
        self.threshold = float(check_number(threshold, "threshold", minimum=0, maximum=1, min_inclusive=False,
                                            max_inclusive=False))
        self.tile_shape = None if tile_shape is None else list(check_shape(tile_shape, "tile_shape"))
        self.batch_size = int(check_number(batch_size, "batch_size", minimum=1, integer=True))
        self.device = device
        self.sha256 = file_checksum(self.path)
        self._loaded = None
        self.checkpoint  # load now, so that a bad file fails before any input is touched

    @property
    def checkpoint(self):
        """The loaded checkpoint (loaded once per process)."""
        if self._loaded is None:
            from .checkpoints import load_checkpoint

            self._loaded = load_checkpoint(self.path, device=self.device)
        return self._loaded

    def __getstate__(self):  # worker processes load the checkpoint themselves
        state = dict(self.__dict__)
        state["_loaded"] = None
        return state

    def to_dict(self) -> dict:
        """What the batch record stores (and compares to skip finished files)."""
        checkpoint = self.checkpoint
        return {"kind": "model", "checkpoint": str(self.path.resolve()), "checkpoint_sha256": self.sha256,
                "network": checkpoint.network, "normalization": checkpoint.normalization,
                "threshold": self.threshold, "tile_shape": self.tile_shape}

    def segment(self, image) -> tuple[np.ndarray, dict, dict]:
        """(mask, timings in seconds, extra images to write by suffix) for one raw (Z, Y, X) image."""
        started = time.perf_counter()
        probabilities = predict_image(self.checkpoint, image, tile_shape=self.tile_shape, batch_size=self.batch_size)
        predicted = time.perf_counter()
        foreground = 1.0 - probabilities[0]
        if probabilities.shape[0] > 2:
            mask = probabilities.argmax(axis=0).astype(np.uint8)
        else:
            mask = foreground > self.threshold
        timings = {"predict": predicted - started, "threshold": time.perf_counter() - predicted}
        return mask, timings, {"prob": foreground.astype(np.float32)}
