"""Volumes larger than memory: a workflow run block by block (each block with a halo) over on-disk arrays.

The modules, in the order the data flows:

- :mod:`.blocks`: the grid of blocks over a (Z, Y, X) volume, halos, and the block size that fits a memory budget;
- :mod:`.arrays`: the on-disk arrays a run reads and writes (zarr stores, lazy sources, OME-Zarr output);
- :mod:`.executor`: runs one function over many blocks, in this process, in worker processes or on a Dask cluster;
- :mod:`.statistics`: whole-volume statistics gathered in a streaming pass (moments, extrema, projections);
- :mod:`.labels`: connected components of a mask too large for memory, and the steps built on them;
- :mod:`.steps`: how each registered building block runs block by block (its halo, its passes);
- :mod:`.engine`: the run: a workflow's steps in order, each written to disk before the next reads it.
"""

from .engine import ChunkedResult, run_chunked

__all__ = ["ChunkedResult", "run_chunked"]
