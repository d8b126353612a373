"""Golgi patterns (ST6GAL1, a trans-Golgi sialyltransferase): one perinuclear Golgi ribbon per cell.

In hiPS cells the Golgi is a compact ribbon of stacked cisternae sitting on the apical side of the
nucleus, a little off its axis, with small Golgi-derived vesicles and ministacks scattered through
the cytoplasm around it. At light-microscope resolution a stack of cisternae (each 20 to 50 nm
thick, 30 nm apart) shows as one curved plate or short thick tube 0.2 to 0.4 um thick and one to a
few micrometres long; several such stacks, bent and tilted against each other, make the ribbon.
Little ST6GAL1 is diffuse (the ER and plasma membrane pools are dim).
"""

from __future__ import annotations

import numpy as np

from ._cells import Cells
from ._draw import blob, label_by_nearest, rasterize, thicken
from ._microscope import Microscope
from ._pattern import Pattern, Structure

#: Stacks (light-microscope "cisternae") per ribbon.
STACKS_PER_RIBBON = (4, 8)
#: Small vesicles / ministacks per cell.
VESICLES_PER_CELL = (8, 25)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _plate(centre_um, tangent, up, length_um, width_um, bend_um, step_um=0.04) -> np.ndarray:
    """Points (um) of a curved rectangular plate: ``length`` along ``tangent``, ``width`` along ``up``,
    bent into an arc whose ends bow ``bend`` micrometres along the plate's normal."""
    normal = _unit(np.cross(tangent, up))
    u = np.arange(-length_um / 2, length_um / 2 + 1e-9, step_um)
    v = np.arange(-width_um / 2, width_um / 2 + 1e-9, step_um)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    bow = bend_um * (2 * uu / length_um) ** 2
    points = (centre_um + uu[..., None] * tangent + vv[..., None] * up + bow[..., None] * normal)
    return points.reshape(-1, 3)


def golgi_ribbons(cells: Cells, microscope: Microscope, rng: np.random.Generator) -> Structure:
    """One Golgi ribbon per cell, above the nucleus, plus scattered vesicles; truth labelled per cell.

    The ribbon's centre lies 0.3 to 1.0 um above the nucleus's top (kept 0.6 um below the cell's
    apical surface), shifted sideways by 0.2 to 0.55 of the nucleus's radius. Around it 4 to 8
    stacks: curved plates 0.8 to 2.5 um long, 0.4 to 1.0 um tall, 0.2 to 0.4 um thick (radius 0.1
    to 0.2 um), bowed by up to 0.4 um, laid roughly along an arc around the cell's axis (the ribbon
    wraps partly around the nucleus top) within about 1.5 um of the ribbon centre, each tilted a
    little; each stack's brightness varies 0.7 to 1.3. 8 to 25 vesicles / ministacks per cell
    (radius 0.08 to 0.2 um, brightness 0.35 to 0.9): two thirds within about 2.5 um of the ribbon,
    the rest anywhere in the cytoplasm. Everything is kept in the cell's cytoplasm. The cell's
    overall expression (render) varies the brightness from cell to cell.

    Truth: all the Golgi membranes of a cell (ribbon plus its vesicles) with the cell's label: a
    cell has one Golgi, and the countable object a biologist measures is the Golgi per cell (its
    volume, fragmentation); the plates of one ribbon touch after blurring, so labelling stacks or
    vesicles apart would not be well defined.
    """
    shape = cells.shape
    voxel = np.asarray(microscope.voxel_size)
    cytoplasm = cells.cytoplasm
    centre_line = np.zeros(shape, bool)
    radius = np.zeros(shape, np.float32)
    brightness = np.zeros(shape, np.float32)
    vesicle_density = np.zeros(shape, np.float32)
    vesicle_labels = np.zeros(shape, np.int32)
    for label in range(1, cells.count + 1):
        nz, ny, nx = cells.nucleus_centres[label - 1]
        rz, ra, _rb = cells.nucleus_radii[label - 1]
        axis_um = np.array([nz, ny, nx]) * voxel
        side = rng.uniform(0, 2 * np.pi)
        offset = rng.uniform(0.2, 0.55) * ra
        top_um = cells.top[int(np.clip(ny, 0, shape[1] - 1)), int(np.clip(nx, 0, shape[2] - 1))] * voxel[0]
        z_um = min(axis_um[0] + rz + rng.uniform(0.3, 1.0), top_um - 0.6) if top_um > 0 else axis_um[0] + rz
        ribbon = np.array([z_um, axis_um[1] + offset * np.sin(side), axis_um[2] + offset * np.cos(side)])
        radial = np.array([0.0, np.sin(side), np.cos(side)])
        around = np.array([0.0, np.cos(side), -np.sin(side)])
        for _stack in range(int(rng.integers(STACKS_PER_RIBBON[0], STACKS_PER_RIBBON[1] + 1))):
            # along the arc around the nucleus axis, a little in and out and up and down
            phi = rng.normal(0, 0.35)
            position = (ribbon + around * offset * np.sin(phi) * 1.6 + radial * rng.normal(0, 0.45)
                        + np.array([rng.normal(0, 0.25), 0, 0]))
            tangent = _unit(around * np.cos(phi) - radial * np.sin(phi) + rng.normal(0, 0.25, 3) * (0.3, 1, 1))
            up = _unit(np.array([1.0, 0, 0]) + rng.normal(0, 0.35, 3))
            up = _unit(up - tangent * (up @ tangent))
            points = _plate(position, tangent, up, rng.uniform(0.8, 2.5), rng.uniform(0.4, 1.0),
                            rng.uniform(-0.4, 0.4))
            plate = rasterize(shape, points / voxel) & (cells.cells == label)
            centre_line |= plate
            radius[plate] = rng.uniform(0.1, 0.2)
            brightness[plate] = rng.uniform(0.7, 1.3)
        own = np.argwhere(cytoplasm & (cells.cells == label))
        if len(own) == 0:
            continue
        for _vesicle in range(int(rng.integers(VESICLES_PER_CELL[0], VESICLES_PER_CELL[1] + 1))):
            if rng.uniform() < 2 / 3:
                position = ribbon / voxel + rng.normal(0, 1.2, 3) / voxel * (0.5, 1, 1)
            else:
                position = own[rng.integers(len(own))].astype(float)
            p = np.rint(position).astype(int)
            if np.any(p < 0) or np.any(p >= shape) or not (cytoplasm[tuple(p)] and cells.cells[tuple(p)] == label):
                continue
            r = rng.uniform(0.08, 0.2)
            geometry, truth = blob(shape, microscope, position, (r, r, r))
            vesicle_density[geometry] = rng.uniform(0.35, 0.9)
            vesicle_labels[truth & (vesicle_labels == 0)] = label
    geometry, truth = thicken(centre_line, radius, microscope)
    geometry &= cytoplasm
    truth &= cells.cells > 0
    # every membrane voxel takes the brightness (and cell label) of the nearest centre voxel
    nearest_brightness = label_by_nearest(geometry, (brightness * 1000).astype(np.int32), microscope.voxel_size)
    density = np.maximum(nearest_brightness.astype(np.float32) / 1000, vesicle_density)
    ribbon_labels = label_by_nearest(truth, np.where(centre_line, cells.cells, 0), microscope.voxel_size)
    labels = np.where(ribbon_labels > 0, ribbon_labels, vesicle_labels).astype(np.int32)
    return Structure(density.astype(np.float32), labels)


# hiPS cells about 11 um wide; a few saturated camera pixels as in real sCMOS data, on which the
# preset's auto-contrast (upper bound 19 standard deviations) was tuned.
PATTERNS = [
    Pattern(
        name="st6gal1",
        title="ST6GAL1 (sialyltransferase 1): Golgi",
        description="One compact Golgi ribbon per cell on the apical side of the nucleus, made of curved "
                    "stacked cisternae 0.2-0.4 um thick and 1-2.5 um long, with small Golgi vesicles "
                    "scattered in the cytoplasm; little diffuse signal. Truth: the Golgi, one label per cell.",
        draw=golgi_ribbons,
        structure_electrons=850.0,
        cytoplasm_electrons=4.0,
        nucleus_electrons=1.0,
        hot_pixels=2.0,
        cell_options=dict(cell_diameter=11.0),
    ),
]
