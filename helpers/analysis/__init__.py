"""Analysis of segmentation results: comparing pipelines, measuring objects, exchanging labels.

Modules (import them by name, e.g. ``from helpers.analysis import measurements``):

``pipeline_grid``
    Several pre-processing variants times several segmenters on one image, run in parallel, shown as
    a grid on one slice for a person to judge (correct, under-, over-segmented, failed); the judgements
    and every parameter are saved (the OpSeF idea).
``grid_widget``
    The judging grid as a notebook widget.
``measurements``
    A table of object properties (volume in um^3, surface, sphericity, intensities, centroid), filters
    on them, classification by a user mask, scatter plots and CSV export.
``embedding``
    PCA and t-SNE of the object table.
``label_files``
    Label images Fiji opens as a calibrated stack, and re-import of labels edited in Fiji or napari.
"""
