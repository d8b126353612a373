"""Analysis of segmentation results: comparing pipelines, measuring objects, exchanging labels.

Modules (import them by name, e.g. ``from helpers.analysis import measurements``):

``pipeline_grid``
    Several pre-processing variants times several segmenters (presets, thresholds, trained models) on
    one image, run in parallel (the OpSeF idea); then, in the order the data flows:
``grid_figure``
    the grid as a picture, one panel per combination on a chosen slice;
``grid_judgements``
    a person's judgement of each panel (correct, under-, over-segmented, failed), saved at once with a
    record of every parameter;
``grid_widget``
    the judging grid as a notebook widget.
``measurements``
    A table of object properties (volume in um^3, surface, sphericity, intensities, centroid), filters
    on them, classification by a user mask, scatter plots and CSV export.
``embedding``
    PCA and t-SNE of the object table.
``label_files``
    Label images Fiji opens as a calibrated stack, and re-import of labels edited in Fiji or napari.
"""
