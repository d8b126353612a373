"""Network speed on this machine: convolution throughput, Net_basic prediction, one training step.

    python benchmarks/bench_networks.py [--field] [--tile Z Y X] [--device cpu|cuda]

Each measurement runs in a fresh process (its peak resident memory is that process's maximum):

- conv3d: the machine's own 3D-convolution throughput, a 64 -> 64 channel 3 x 3 x 3 convolution on a
  (1, 64, 24, 96, 96) float32 tensor, best of 3 (GFLOP/s = 2 x 27 x 64 x 64 x output voxels / s);
- tile: one Net_basic (default width) forward pass in evaluation mode on a tile (default
  60 x 220 x 220 -> 32 x 132 x 132, about the tiled prediction's default for Net_basic), with its FLOPs counted by forward hooks
  on every convolution, so the achieved GFLOP/s can be set against the conv3d figure (target: at least
  half of it);
- train_step: one Adam step of Net_basic on a batch of 2 patches of 50 x 156 x 156 (forward with the
  auxiliary heads, weighted cross-entropy, backward);
- field (with --field): Net_basic tiled prediction of a whole 65 x 600 x 900 synthetic field
  (bench_building_blocks.make_field), seconds, voxels/s, peak memory (target <= 6 GB).

Results are added to benchmarks/results/networks.md and .json (one section per device).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
sys.path.insert(0, str(ROOT / "benchmarks"))


def _count_flops(model):
    """Forward hooks that add up 2 x multiply-adds of every (transposed) convolution; returns the counter."""
    import torch

    counter = {"flops": 0}

    def hook(module, inputs, output):
        kernel = 1
        for k in module.kernel_size:
            kernel *= k
        if isinstance(module, torch.nn.ConvTranspose3d):
            voxels = inputs[0].shape[0] * inputs[0][0, 0].numel()  # each input voxel scatters one kernel
        else:
            voxels = output.shape[0] * output[0, 0].numel()
        counter["flops"] += 2 * kernel * module.in_channels * module.out_channels // module.groups * voxels

    for module in model.modules():
        if isinstance(module, (torch.nn.Conv3d, torch.nn.ConvTranspose3d)):
            module.register_forward_hook(hook)
    return counter


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def measure_conv3d(device: str) -> dict:
    import torch

    conv = torch.nn.Conv3d(64, 64, 3).to(device).eval()
    x = torch.randn(1, 64, 24, 96, 96, device=device)
    times = []
    with torch.inference_mode():
        conv(x)
        for _ in range(3):
            started = time.perf_counter()
            out = conv(x)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
    flops = 2 * 27 * 64 * 64 * out[0, 0].numel()
    return {"seconds": min(times), "gflops_per_s": flops / min(times) / 1e9, "peak_gb": _peak_gb()}


def measure_tile(device: str, tile) -> dict:
    import torch

    from helpers.nets import NetBasic

    model = NetBasic().to(device).eval()
    tile = model.valid_input_shape(tile)
    counter = _count_flops(model)
    x = torch.randn(1, 1, *tile, device=device)
    with torch.inference_mode():
        model(torch.randn(1, 1, *model.valid_input_shape((29, 92, 92)), device=device))  # warm-up
        counter["flops"] = 0
        started = time.perf_counter()
        out = model(x)[0]
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return {"tile": list(tile), "output": list(out.shape[2:]), "seconds": seconds, "gflop": counter["flops"] / 1e9,
            "gflops_per_s": counter["flops"] / seconds / 1e9, "output_voxels_per_s": out[0, 0].numel() / seconds,
            "peak_gb": _peak_gb()}


def measure_train_step(device: str) -> dict:
    import torch

    from helpers.losses import deep_supervision_loss
    from helpers.nets import NetBasic

    model = NetBasic().to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-5, weight_decay=0.005)
    x = torch.randn(2, 1, 50, 156, 156, device=device)
    target = torch.randint(0, 2, (2, 22, 68, 68), device=device)
    cost = torch.ones(2, 22, 68, 68, device=device)
    times = []
    for _ in range(2):  # the first step allocates; the second is timed
        started = time.perf_counter()
        optimizer.zero_grad()
        loss = deep_supervision_loss(model(x), target, cost)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return {"batch": [2, 50, 156, 156], "seconds": times[-1], "first_step_seconds": times[0], "peak_gb": _peak_gb()}


def measure_field(device: str, tile) -> dict:
    from bench_building_blocks import make_field

    from helpers.inference import predict
    from helpers.nets import NetBasic
    from helpers.training_data import normalize

    field = make_field()
    model = NetBasic().to(device).eval()
    counter = _count_flops(model)
    image = normalize(field)
    started = time.perf_counter()
    probabilities = predict(model, image, tile_shape=tile, device=device)
    seconds = time.perf_counter() - started
    return {"shape": list(field.shape), "tile": list(tile) if tile else None, "seconds": seconds,
            "voxels_per_s": field.size / seconds, "gflop": counter["flops"] / 1e9,
            "gflops_per_s": counter["flops"] / seconds / 1e9, "output_dtype": str(probabilities.dtype),
            "peak_gb": _peak_gb()}


def _child(name, args, queue):
    import torch

    torch.manual_seed(0)
    function = {"conv3d": measure_conv3d, "tile": measure_tile, "train_step": measure_train_step,
                "field": measure_field}[name]
    try:
        queue.put(function(*args))
    except Exception as error:  # reported, not hidden
        queue.put({"error": f"{type(error).__name__}: {error}"})


def run_isolated(name, *args) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(name, args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--field", action="store_true", help="also predict a whole 65 x 600 x 900 field (long on CPU)")
    parser.add_argument("--tile", type=int, nargs=3, default=[60, 220, 220], help="Net_basic input tile (Z Y X)")
    parser.add_argument("--field-tile", type=int, nargs=3, default=None, help="tile for --field (default: predict's)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    args = parser.parse_args(argv)

    import numpy
    import torch

    from helpers import __version__

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    records = {}
    for name, extra in (("conv3d", ()), ("tile", (tuple(args.tile),)), ("train_step", ())):
        records[name] = run_isolated(name, device, *extra)
        print(name, records[name], flush=True)
        if "error" in records[name]:
            raise SystemExit(f"{name} failed: {records[name]['error']}")
    if args.field:
        records["field"] = run_isolated("field", device, tuple(args.field_tile) if args.field_tile else None)
        print("field", records["field"], flush=True)

    conv, tile = records["conv3d"], records["tile"]
    ratio = tile.get("gflops_per_s", 0) / conv.get("gflops_per_s", float("inf"))
    machine = (f"{platform.machine()}, {__import__('os').cpu_count()} cores, torch {torch.__version__} "
               f"({torch.get_num_threads()} threads), numpy {numpy.__version__}, Python {platform.python_version()}")
    if device == "cuda":
        machine += f", {torch.cuda.get_device_name(0)}"
    command = "python benchmarks/bench_networks.py " + " ".join(argv if argv is not None else sys.argv[1:])
    lines = [f"## {device}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
             f"`{command.strip()}`; {machine}; helpers {__version__}.", "",
             "| measurement | seconds | throughput | peak GB |", "|---|---|---|---|",
             f"| conv3d 64->64, 3x3x3, (1, 64, 24, 96, 96) | {conv['seconds']:.3f} | {conv['gflops_per_s']:.1f} GFLOP/s "
             f"(this machine's reference) | {conv['peak_gb']:.2f} |",
             f"| Net_basic forward, tile {tuple(tile['tile'])} -> {tuple(tile['output'])} | {tile['seconds']:.2f} | "
             f"{tile['gflops_per_s']:.1f} GFLOP/s ({tile['gflop']:.0f} GFLOP), "
             f"{tile['output_voxels_per_s'] / 1e3:.1f} k output voxels/s | {tile['peak_gb']:.2f} |",
             f"| Net_basic training step, batch 2 x 50x156x156 | {records['train_step']['seconds']:.2f} | "
             f"(first step {records['train_step']['first_step_seconds']:.2f} s) | {records['train_step']['peak_gb']:.2f} |"]
    if "field" in records:
        field = records["field"]
        if "error" in field:
            lines.append(f"| Net_basic, whole 65x600x900 field | failed: {field['error']} | | |")
        else:
            lines.append(f"| Net_basic, whole 65x600x900 field (tile {field['tile'] or 'default'}) | {field['seconds']:.0f} | "
                         f"{field['voxels_per_s'] / 1e3:.1f} k voxels/s, {field['gflops_per_s']:.1f} GFLOP/s | "
                         f"{field['peak_gb']:.2f} (target <= 6) |")
    lines += ["", f"Net_basic reaches {ratio:.0%} of the machine's conv3d throughput (target: at least 50%).", ""]
    RESULTS.mkdir(exist_ok=True)
    markdown = RESULTS / "networks.md"
    header = ("# Networks: speed on this machine\n\nWritten by `benchmarks/bench_networks.py` (see its docstring for "
              "what each line measures). Newest section first.\n\n")
    previous = markdown.read_text()[len(header):] if markdown.exists() and markdown.read_text().startswith(header) else ""
    markdown.write_text(header + "\n".join(lines) + "\n\n" + previous)
    store = RESULTS / "networks.json"
    history = json.loads(store.read_text()) if store.exists() else []
    history.insert(0, {"device": device, "command": command, "machine": machine, "records": records})
    store.write_text(json.dumps(history, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
