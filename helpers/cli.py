"""The ``segmenter`` command line.

    segmenter --version
    segmenter info IMAGE [--channel C] [--scene S] [--time T] [--promote-2d]
    segmenter presets
    segmenter show NAME_OR_FILE
    segmenter run WORKFLOW INPUT... -o OUTDIR [--channel C] [--scene S] [--time T] [--workers N] [--scheduler ADDRESS]
    segmenter cluster [--workers N] [--port P]
    segmenter samples OUTDIR [--only NAME ...] [--seed S] [--shape Z Y X] [--no-lamin-set] [--overwrite]
    segmenter baselines IMAGE --truth TRUTH [--workflow NAME_OR_FILE] [--slice Z] [--csv FILE]
    segmenter train CONFIG [--resume CHECKPOINT] [--overwrite]
    segmenter predict CHECKPOINT INPUT... -o OUTDIR [--threshold P] [--tile Z Y X] [--batch-size N] [--device D]

``info`` describes an image file of any supported format (scenes, dimensions, channel names, time
points, voxel size, which choices it needs) and, when the choices pick one (Z, Y, X) stack, reads it the
way every workflow will and reports what a user needs before tuning: intensity statistics and the
auto-contrast parameters suggested for it. ``run`` and ``predict`` take ``--channel``, ``--scene`` and
``--time`` as one index (``1``), a list (``0,2``) or ``all``, and write one result per stack.
``presets`` lists the built-in workflows, ``show`` prints one workflow's steps and parameters, ``run``
applies a workflow to files, folders and glob patterns (see :mod:`helpers.batch`), and ``cluster``
starts a Dask cluster on this machine for ``run --scheduler``. ``samples`` draws the synthetic sample
images with their ground truth (:mod:`helpers.synthetic`), and ``baselines`` scores the paper's 22
threshold methods, and optionally a workflow, against a ground truth (:mod:`helpers.baselines`).
``train`` trains a network from a JSON configuration (:mod:`helpers.training`) and ``predict`` applies a
checkpoint to files, resumably, like ``run`` (:mod:`helpers.prediction`). Usage errors are printed as
one line saying what to do, with exit code 2; ``run`` exits with 1 when any file failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading

import numpy as np

from . import __version__
from .image_files import IndexChoice, open_image
from .io import read_image
from .normalization import suggest_auto_contrast


def _info(args: argparse.Namespace) -> int:
    image_file = open_image(args.image)
    print(image_file.describe(), flush=True)
    chosen = {"scene": args.scene, "time": args.time, "channel": args.channel}
    counts = {"scene": len(image_file.scenes), "time": max(image_file.scene_info(i).time_points
                                                            for i in range(len(image_file.scenes))),
              "channel": max(image_file.scene_info(i).shape["C"] for i in range(len(image_file.scenes)))}
    if any(value is None and counts[axis] > 1 for axis, value in chosen.items()):
        print("statistics:  choose one stack (--scene, --time, --channel) to see intensities and the suggested "
              "auto-contrast")
        return 0
    if image_file.scene_info(args.scene or 0).is_2d and not args.promote_2d:
        print("statistics:  a 2D image; add --promote-2d to read it as a one-slice stack (the workflows need "
              "a Z stack)")
        return 0
    image = image_file.read(channel=args.channel, scene=args.scene, time=args.time, promote_2d=args.promote_2d)
    data = image.data
    voxel = ("unknown (not recorded in the file)" if image.voxel_size is None
             else " x ".join(f"{v:g}" for v in image.voxel_size) + " um (z, y, x)")
    low, high = float(data.min()), float(data.max())
    lines = [
        f"stack:       {image.source}",
        f"shape:       {data.shape[0]} x {data.shape[1]} x {data.shape[2]} (Z, Y, X)",
        f"dtype:       {data.dtype}",
        f"voxel size:  {voxel}",
        f"intensity:   min {low:g}, max {high:g}, mean {float(data.mean()):.6g}, "
        f"sd {float(data.std()):.6g}, 99.99th percentile {float(np.percentile(data, 99.99)):.6g}",
    ]
    if low < high:
        lower_sd, upper_sd = suggest_auto_contrast(data)
        lines.append(f"suggested auto-contrast: lower_sd={lower_sd:g}, upper_sd={upper_sd:g}")
    else:
        lines.append("the image is constant: check the channel and time point")
    print("\n".join(lines))
    return 0


def _presets(args: argparse.Namespace) -> int:
    from .workflow import list_presets

    workflows = sorted(list_presets(), key=lambda workflow: workflow.name)
    width = max((len(workflow.name) for workflow in workflows), default=0)
    gene_width = max((len(str(workflow.gene)) for workflow in workflows), default=0)
    for workflow in workflows:
        print(f"{workflow.name:<{width}}  {workflow.gene:<{gene_width}}  {workflow.structure} "
              f"({workflow.pattern}): {workflow.description}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from .workflow import load_preset

    print(load_preset(args.workflow).describe())
    return 0


def _run(args: argparse.Namespace) -> int:
    from .batch import run_batch

    if args.scheduler is not None and args.scheduler != "local" and args.workers != 1:
        raise ValueError("--workers applies to this machine or --scheduler local; an external Dask "
                         "cluster has its own workers. Drop --workers.")
    try:
        summary = run_batch(args.workflow, args.inputs, args.output, channel=args.channel, scene=args.scene,
                            time=args.time, promote_2d=args.promote_2d, workers=args.workers,
                            scheduler=args.scheduler, overwrite=args.overwrite, progress=not args.no_progress,
                            block_wise=_block_mode(args), memory_gb=args.memory)
    except KeyboardInterrupt:
        print("segmenter: interrupted; finished files are kept. Run the same command again to go on "
              "where it stopped.", file=sys.stderr)
        return 130
    return _report(summary)


def _report(summary) -> int:
    total = len(summary.outcomes)
    inputs = len({outcome.input for outcome in summary.outcomes})
    what = (f"{total} file{'s' if total != 1 else ''}" if total == inputs
            else f"{total} stacks from {inputs} file{'s' if inputs != 1 else ''}")
    print(f"{len(summary.done)} done, {len(summary.skipped)} skipped (already done), "
          f"{len(summary.failed)} failed, of {what} in {summary.seconds:.1f} s; results in {summary.output_folder}")
    for outcome in summary.failed:
        print(f"FAILED {outcome.label}: {outcome.error}")
    return 0 if summary.ok else 1


def _train(args: argparse.Namespace) -> int:
    from .training import TrainingConfig, train

    config = TrainingConfig.from_file(args.config)
    if args.resume is not None:
        config.resume = args.resume
    if args.overwrite:
        config.overwrite = True
    try:
        result = train(config, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("segmenter: interrupted; the last checkpoint written is kept. Continue with --resume "
              f"{config.output_folder}/checkpoint_last.pt.", file=sys.stderr)
        return 130
    last = result.history[-1] if result.history else {}
    print(f"trained {config.network.get('name')} for {config.iterations} iterations in {result.seconds:.0f} s; "
          f"validation Dice {last.get('validation_dice', float('nan')):.3f}; best checkpoint "
          f"{result.best_checkpoint}; curves in {result.output_folder / 'curves.png'}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .batch import run_batch
    from .prediction import ModelSegmenter

    model = ModelSegmenter(args.checkpoint, threshold=args.threshold, tile_shape=args.tile,
                           batch_size=args.batch_size, device=args.device)
    try:
        summary = run_batch(model, args.inputs, args.output, channel=args.channel, scene=args.scene,
                            time=args.time, promote_2d=args.promote_2d, workers=1,
                            overwrite=args.overwrite, progress=not args.no_progress,
                            block_wise=_block_mode(args), memory_gb=args.memory)
    except KeyboardInterrupt:
        print("segmenter: interrupted; finished files are kept. Run the same command again to go on.",
              file=sys.stderr)
        return 130
    return _report(summary)


def _cluster(args: argparse.Namespace) -> int:
    import time

    from .batch import start_local_cluster

    _stop_on_signals()
    cluster = start_local_cluster(workers=args.workers, threads_per_worker=args.threads_per_worker,
                                  port=args.port)
    try:
        print(f"Dask scheduler at {cluster.scheduler_address} ({args.workers} workers, "
              f"{args.threads_per_worker} thread(s) each, loopback only)", flush=True)
        print(f"use it with: segmenter run WORKFLOW INPUT... -o OUTDIR --scheduler {cluster.scheduler_address}",
              flush=True)
        print("press Ctrl-C to stop it", flush=True)
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("stopping the cluster", flush=True)
    finally:
        # Stopping must end: a worker slow to stop can hold up the close, and then Dask's and
        # multiprocessing's exit hooks, which wait for every child. After this many seconds the
        # workers are killed and the process leaves.
        watchdog = threading.Timer(CLUSTER_STOP_SECONDS, _leave_now)
        watchdog.daemon = True
        watchdog.start()
        try:
            cluster.close(timeout=20)  # do not hang on a worker that is slow to stop
        except Exception as error:  # noqa: BLE001 - stopping anyway; say why
            print(f"the cluster did not stop cleanly ({type(error).__name__}: {error})", file=sys.stderr)
    return 0


#: Seconds `segmenter cluster` gives its workers to stop after Ctrl-C before it kills them.
CLUSTER_STOP_SECONDS = 45


def _stop_on_signals() -> None:
    """Make Ctrl-C (SIGINT) and SIGTERM stop `segmenter cluster`.

    A process started in the background by a non-interactive shell inherits SIGINT as ignored, and
    Python then installs no handler of its own: Ctrl-C or ``kill -INT`` would do nothing.
    """
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (called from a program): leave its signals alone
        pass


def _leave_now() -> None:
    """Kill this process's remaining children and exit at once (the end of a stop that hung)."""
    import multiprocessing

    print("segmenter: the cluster did not stop in time; its workers were killed.", file=sys.stderr, flush=True)
    for child in multiprocessing.active_children():
        child.kill()
    sys.stdout.flush()
    os._exit(0)


def _samples(args: argparse.Namespace) -> int:
    from .synthetic.files import write_samples

    from .synthetic import SAMPLE_SHAPE

    written = write_samples(args.output, names=args.only, seed=args.seed, lamin_set=not args.no_lamin_set,
                            shape=tuple(args.shape) if args.shape else SAMPLE_SHAPE,
                            overwrite=args.overwrite, progress=lambda name: print(f"drawing {name}", flush=True))
    print(f"wrote {len(written)} files to {args.output}")
    return 0


def _baselines(args: argparse.Namespace) -> int:
    from .baselines import compare_thresholds
    from .workflow import load_preset, run

    image = read_image(args.image)
    truth = read_image(args.truth)
    if truth.shape != image.shape:
        raise ValueError(f"The truth has shape {truth.shape} but the image {image.shape}; they must match.")
    mask = None
    if args.workflow:
        mask = run(load_preset(args.workflow), image.data, keep_intermediates=False).mask
    comparison = compare_thresholds(image.data, truth.data, workflow_mask=mask, z=args.slice)
    print(comparison.to_text(workflow=args.workflow))
    if args.csv:
        comparison.write_csv(args.csv, overwrite=args.overwrite)
        print(f"all {len(comparison.scores)} rows written to {args.csv}")
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line, ``segmenter: error: ...``, exit code 2."""

    def error(self, message):  # noqa: D401 - argparse's hook
        hint = f" (see `{self.prog} --help`)"
        self.exit(2, f"segmenter: error: {message}{hint}\n")


def _index_choice(option: str):
    """An argparse type for --channel/--scene/--time: one index, a comma list, or `all`."""

    def parse(text: str) -> IndexChoice:
        try:
            return IndexChoice.parse(text, option=option)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = option.lstrip("-")  # argparse names the type in some messages
    return parse


def _add_batch_arguments(command) -> None:
    """The inputs and options `run` and `predict` share (both go through helpers.batch)."""
    command.add_argument("inputs", metavar="INPUT", nargs="+",
                         help="image files (.tif, .ome.tif, .czi, .nd2, .lif), .ome.zarr folders, folders of "
                              "images, or quoted glob patterns ('data/*.czi')")
    command.add_argument("-o", "--output", metavar="OUTDIR", required=True, help="output folder (created if needed)")
    for option, what in (("--channel", "channels"), ("--scene", "scenes (positions, series)"),
                         ("--time", "time points")):
        command.add_argument(option, type=_index_choice(option), default=None, metavar="INDEX|LIST|all",
                             help=f"{what} to segment: one index (1), a list (0,2) or all; needed for files with "
                                  f"more than one. One result per stack, named NAME_s.._t.._c.._seg.ome.tif")
    command.add_argument("--promote-2d", action="store_true", help="segment 2D images as one-slice stacks")
    command.add_argument("--overwrite", action="store_true",
                         help="replace results that were made with another workflow, model or input version")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    blocks = command.add_mutually_exclusive_group()
    blocks.add_argument("--block-wise", action="store_true",
                        help="run every image block by block (read lazily, written as NAME_seg.ome.zarr): for "
                             "volumes larger than memory. Default: only images that need more than --memory")
    blocks.add_argument("--in-memory", action="store_true", help="never run block by block")
    command.add_argument("--memory", type=float, default=None, metavar="GB",
                         help="memory a run may use, in GiB (default: half of this machine's); larger images "
                              "run block by block")


def _block_mode(args) -> bool | None:
    return True if args.block_wise else (False if args.in_memory else None)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="segmenter",
        description="3D segmentation of intracellular structures (classic workflows and deep learning).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="describe an image: shape, voxel size, intensities, "
                                            "suggested normalization")
    info.add_argument("image", help="an image: .tif, .ome.tif, .ome.zarr folder, .czi, .nd2 or .lif")
    info.add_argument("--channel", type=int, default=None, help="channel to read (multichannel files)")
    info.add_argument("--scene", type=int, default=None, help="scene to read (multi-scene files)")
    info.add_argument("--time", type=int, default=None, help="time point to read (time series)")
    info.add_argument("--promote-2d", action="store_true", help="read a 2D image as a one-slice stack")
    info.set_defaults(handler=_info)

    presets = commands.add_parser("presets", help="list the built-in workflows, one line each")
    presets.set_defaults(handler=_presets)

    show = commands.add_parser("show", help="print a workflow's steps and parameters")
    show.add_argument("workflow", metavar="NAME_OR_FILE", help="a preset name (see `segmenter presets`) "
                                                               "or a saved workflow .json file")
    show.set_defaults(handler=_show)

    run = commands.add_parser(
        "run", help="apply a workflow to files, folders or glob patterns",
        description="Apply a workflow to many images. Writes OUTDIR/NAME_seg.ome.tif (uint8 0/255 mask) "
                    "and OUTDIR/NAME_seg.json (the workflow, input checksum, timings) per input stack; files with "
                    "several scenes, time points or channels get _s{scene}_t{time}_c{channel} in the name. "
                    "Results already done are skipped, so an interrupted run can simply be started again.")
    run.add_argument("workflow", metavar="WORKFLOW", help="a preset name or a saved workflow .json file")
    _add_batch_arguments(run)
    run.add_argument("--workers", type=_positive_int, default=1,
                     help="files processed at once, in separate processes (default 1)")
    run.add_argument("--scheduler", metavar="ADDRESS", default=None,
                     help="run on a Dask cluster (tcp://host:8786, see `segmenter cluster`), or 'local' to "
                          "start one on this machine with --workers workers")
    run.set_defaults(handler=_run)

    cluster = commands.add_parser("cluster", help="start a Dask cluster on this machine for `run --scheduler`")
    cluster.add_argument("--workers", type=_positive_int, default=2, help="worker processes (default 2)")
    cluster.add_argument("--threads-per-worker", type=_positive_int, default=1,
                         help="files each worker segments at once (default 1)")
    cluster.add_argument("--port", type=int, default=0, help="scheduler port (default: any free port)")
    cluster.set_defaults(handler=_cluster)

    samples = commands.add_parser(
        "samples", help="draw the synthetic sample images (one per structure) with their ground truth",
        description="Draw the synthetic sample of every lookup-table structure (and the lamin B1 set for "
                    "the deep-learning demo) into OUTDIR, with ground truth and a manifest. The same seed "
                    "gives the same images. Existing files are left untouched unless --overwrite.")
    samples.add_argument("output", metavar="OUTDIR", help="folder to write to (created if needed)")
    samples.add_argument("--only", nargs="+", metavar="NAME", default=None, help="only these structures")
    samples.add_argument("--seed", type=int, default=0, help="random seed (default 0, the shipped samples)")
    samples.add_argument("--shape", type=_positive_int, nargs=3, metavar=("Z", "Y", "X"), default=None,
                         help="size of each structure sample in voxels (default 40 192 192)")
    samples.add_argument("--no-lamin-set", action="store_true", help="skip the lamin B1 deep-learning set")
    samples.add_argument("--overwrite", action="store_true", help="replace existing files")
    samples.set_defaults(handler=_samples)

    baselines = commands.add_parser(
        "baselines", help="score the paper's 22 threshold methods (and a workflow) against a ground truth",
        description="Apply the 14 global and 8 local (radii 8, 16, 32, 64) threshold methods to the maximum "
                    "projection of a slice and its two neighbours, as the paper did, and print each method's "
                    "Dice against the ground truth projected the same way (best radius per local method).")
    baselines.add_argument("image", help="the raw image (TIFF / OME-TIFF)")
    baselines.add_argument("--truth", required=True, help="ground truth mask or label image of the same shape")
    baselines.add_argument("--workflow", metavar="NAME_OR_FILE", default=None,
                           help="also run this workflow and score it the same way (and in 3D)")
    baselines.add_argument("--slice", type=int, default=None,
                           help="the slice of choice (default: the median z of the ground truth)")
    baselines.add_argument("--csv", metavar="FILE", default=None, help="write every method and radius to a CSV")
    baselines.add_argument("--overwrite", action="store_true", help="replace an existing CSV")
    baselines.set_defaults(handler=_baselines)

    train = commands.add_parser(
        "train", help="train a network on a folder of images and ground truths (see helpers.training)",
        description="Train a network as the JSON configuration says (training_folder, output_folder, network, "
                    "patch_shape, batch_size, iterations, learning_rate, ...; see helpers.training.TrainingConfig). "
                    "Writes checkpoint_last.pt, checkpoint_best.pt, history.csv and curves.png.")
    train.add_argument("config", metavar="CONFIG", help="a training configuration .json file")
    train.add_argument("--resume", metavar="CHECKPOINT", default=None, help="continue from this checkpoint")
    train.add_argument("--overwrite", action="store_true", help="replace an earlier training's outputs")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    train.set_defaults(handler=_train)

    predict = commands.add_parser(
        "predict", help="apply a trained network to files, folders or glob patterns",
        description="Predict every input tile by tile and write OUTDIR/NAME_prob.ome.tif (foreground "
                    "probability), OUTDIR/NAME_seg.ome.tif (mask at --threshold) and OUTDIR/NAME_seg.json. "
                    "Files already done are skipped.")
    predict.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint written by `segmenter train`")
    _add_batch_arguments(predict)
    predict.add_argument("--threshold", type=float, default=0.5, help="foreground probability for the mask (0.5)")
    predict.add_argument("--tile", type=_positive_int, nargs=3, metavar=("Z", "Y", "X"), default=None,
                         help="input tile size (default: chosen for the network and memory)")
    predict.add_argument("--batch-size", type=_positive_int, default=1, help="tiles per forward pass (1)")
    predict.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    predict.set_defaults(handler=_predict)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors (already printed)
        return stop.code if isinstance(stop.code, int) else 2
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    try:
        return args.handler(args)
    except (ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"segmenter: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
