"""helpers: the package behind the segmenter notebooks.

One module per algorithm family (STYLE.md): :mod:`helpers.io`, :mod:`helpers.normalization`,
:mod:`helpers.smoothing`, :mod:`helpers.filaments`, :mod:`helpers.spots`, :mod:`helpers.thresholds`,
:mod:`helpers.watershed`, :mod:`helpers.morphology`; the workflow engine (:mod:`helpers.registry`,
:mod:`helpers.workflow`, presets in ``helpers/presets/``) and batch processing (:mod:`helpers.batch`,
the ``segmenter`` command in :mod:`helpers.cli`); the notebooks' viewer and tuning panel
(:mod:`helpers.viewer`, :mod:`helpers.widgets`, :mod:`helpers.regions`); deep learning
(:mod:`helpers.nets`, :mod:`helpers.losses`, :mod:`helpers.training_data`, :mod:`helpers.training`,
:mod:`helpers.checkpoints`, :mod:`helpers.inference`, :mod:`helpers.prediction`), curation of
candidate segmentations into training data (:mod:`helpers.curation`) and :mod:`helpers.metrics`. Import the module you need, e.g.
``from helpers import filaments``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("helpers")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
