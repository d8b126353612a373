"""The ``segmenter`` command line.

    segmenter --version
    segmenter info IMAGE [--channel C] [--time T] [--promote-2d]

``info`` reads an image the way every workflow will (a (Z, Y, X) stack and its voxel size) and
reports what a user needs before tuning: shape, dtype, voxel size, intensity statistics, and the
auto-contrast parameters suggested for it. Errors are printed as one line saying what to do,
with exit code 2.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import __version__
from .io import read_image
from .normalization import suggest_auto_contrast


def _info(args: argparse.Namespace) -> int:
    image = read_image(args.image, channel=args.channel, time=args.time, promote_2d=args.promote_2d)
    data = image.data
    voxel = ("unknown (not recorded in the file)" if image.voxel_size is None
             else " x ".join(f"{v:g}" for v in image.voxel_size) + " um (z, y, x)")
    low, high = float(data.min()), float(data.max())
    lines = [
        f"file:        {image.source}",
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segmenter",
        description="3D segmentation of intracellular structures (classic workflows and deep learning).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser("info", help="describe an image: shape, voxel size, intensities, "
                                            "suggested normalization")
    info.add_argument("image", help="a TIFF / OME-TIFF file")
    info.add_argument("--channel", type=int, default=None, help="channel to read (multichannel files)")
    info.add_argument("--time", type=int, default=None, help="time point to read (time series)")
    info.add_argument("--promote-2d", action="store_true", help="read a 2D image as a one-slice stack")
    info.set_defaults(handler=_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
