"""Gradient anisotropic diffusion (Perona and Malik 1990) with ITK's numerics, as a numba kernel.

This is the engine behind :func:`helpers.smoothing.edge_preserving_smooth` (ES). It reproduces
``itk.GradientAnisotropicDiffusionImageFilter`` on a float image with unit spacing, which is what
the reference segmenter calls, including where ITK rounds to float and where it works in double.

The scheme
----------
Write u for the image (float32), and for a voxel p and an axis a let

    c_a(p) = float32(u(p + e_a) - u(p - e_a)) / 2          (central difference, rounded to float)

where indices outside the image are clamped to the nearest border voxel (zero-flux Neumann
boundary: the image is continued by repeating its edge). Each iteration:

1. Mean squared gradient magnitude of the current image, in double,

       g = (1 / N) * sum_p sum_a c_a(p)^2 ,

   over all N voxels (border voxels included, with the clamped differences above), and from it

       K = float32(-2 * g * conductance^2)        (negative; ITK stores it as a float).

2. Flux through the face between p and its forward neighbour q = p + e_a (in double):

       d        = float32(u(q) - u(p))
       s        = sum over the two other axes b of 0.25 * (c_b(p) + c_b(q))^2
       F_a(p)   = d * exp((d^2 + s) / K)

   d^2 estimates the squared gradient across the face and s the squared gradient along it, so the
   conductance exp(-|grad u|^2 / (2 g conductance^2)) is evaluated at the face centre. Faces on the
   image border carry no flux (d = 0 there), which is the zero-flux boundary. If K == 0 (only for a
   constant image, or one so faint that K underflows) the conductance is 0: nothing moves.

3. Update, all voxels from the same previous image:

       delta(p) = (F_x(p) - F_x(p - e_x)) + (F_y(p) - F_y(p - e_y)) + (F_z(p) - F_z(p - e_z))
       u_new(p) = u(p) + float32(float32(delta(p)) * time_step)

   summed in ITK's order (x, then y, then z), with delta rounded to float before the step as ITK's
   float update buffer does. Both voxels of a face see exactly the same flux, so whatever leaves one
   voxel enters its neighbour: the scheme conserves the image sum (up to float rounding).

Implementation notes
--------------------
ITK evaluates each face twice (once from either side) with bit-identical results; here each face is
evaluated once. The image is swept row by row (one x-row per (z, y)); the fluxes through the
backward y- and z-faces of a row were computed with the previous row and plane and are kept in a
row buffer and a plane buffer. All inner loops run along x over contiguous memory so that LLVM can
vectorize them, including the exponential, which is written out below (Cody-Waite reduction and a
Taylor polynomial, within about 1 ulp in double) because a call to the C library's ``exp`` cannot
be vectorized. z-slabs run on parallel threads. Compared with ITK 5.4 on test images of up to 35
million voxels every output voxel was bit-identical; as this exp is not the C library's, a rare
last-bit difference remains possible.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, localcontext

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

__all__ = ["gradient_anisotropic_diffusion"]

_HALF = np.float32(0.5)

# --------------------------------------------------------------------------------------------------
# A vectorizable double-precision exp for arguments <= 0.
#
# exp(x) = 2**n * exp(r) with n = round(x / ln 2) and r = x - n ln 2, |r| <= ln(2) / 2. The product
# n ln 2 is subtracted in two parts (Cody-Waite): ln 2 = LN2_HI + LN2_LO where LN2_HI keeps only the
# top 21 significant bits, so n * LN2_HI is exact for any n that occurs. exp(r) - 1 comes from its
# Taylor series to degree 13 (truncation error below 1e-17 on |r| <= 0.35). n is obtained by adding
# 1.5 * 2**52: the sum's low mantissa bits then hold round(x / ln 2) as an integer, from which the
# bit pattern of 2**n is built directly.
# --------------------------------------------------------------------------------------------------


def _exp_constants():
    with localcontext() as context:
        context.prec = 50
        ln2 = Decimal(2).ln()
        ln2_bits = int(np.float64(float(ln2)).view(np.int64))
        ln2_hi = float(np.int64(ln2_bits & ~0xFFFFFFFF).view(np.float64))
        ln2_lo = float(ln2 - Decimal(ln2_hi))
        log2e = float(1 / ln2)
        # Taylor coefficients 1/j! for j = 2 .. 13.
        taylor = tuple(float(1 / Decimal(math.factorial(j))) for j in range(2, 14))
    return ln2_hi, ln2_lo, log2e, taylor


_LN2_HI, _LN2_LO, _LOG2E, _TAYLOR = _exp_constants()
(_T2, _T3, _T4, _T5, _T6, _T7, _T8, _T9, _T10, _T11, _T12, _T13) = _TAYLOR
_ROUNDING_SHIFT = 6755399441055744.0  # 1.5 * 2**52
# exp(-700) ~ 1e-304 is still a normal double. A flux multiplied by it is < 1e-265 and vanishes when
# the update is rounded to float32, exactly as it would with the true (smaller) value.
_EXP_FLOOR = -700.0


@intrinsic
def _float64_bits(typingctx, value):
    """Reinterpret a float64 as the int64 with the same bits."""
    if value != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _float64_from_bits(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _multiply_add(typingctx, a, b, c):
    """a * b + c, fused into one instruction where the CPU has a fast FMA (llvm.fmuladd)."""
    if not (a == types.float64 and b == types.float64 and c == types.float64):
        return None

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        function = builder.module.declare_intrinsic(
            "llvm.fmuladd", [double], ir.FunctionType(double, [double, double, double]))
        return builder.call(function, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@numba.njit(cache=True, inline="always")
def _exp_nonpositive(x):
    """exp(x) for x <= 0 (within 1 ulp); arguments below -700 are treated as -700."""
    x = x if x > _EXP_FLOOR else _EXP_FLOOR
    shifted = x * _LOG2E + _ROUNDING_SHIFT
    n = shifted - _ROUNDING_SHIFT  # round(x / ln 2), exactly
    r = (x - n * _LN2_HI) - n * _LN2_LO
    # p(r) = T2 + T3 r + ... + T13 r^11 by Estrin's scheme (pairs, then pairs of pairs): a shorter
    # dependency chain than Horner's rule, so vectorized iterations overlap better.
    r2 = r * r
    r4 = r2 * r2
    a0 = _multiply_add(_T3, r, _T2)
    a1 = _multiply_add(_T5, r, _T4)
    a2 = _multiply_add(_T7, r, _T6)
    a3 = _multiply_add(_T9, r, _T8)
    a4 = _multiply_add(_T11, r, _T10)
    a5 = _multiply_add(_T13, r, _T12)
    b0 = _multiply_add(a1, r2, a0)
    b1 = _multiply_add(a3, r2, a2)
    b2 = _multiply_add(a5, r2, a4)
    p = _multiply_add(_multiply_add(b2, r4, b1), r4, b0)
    expm1_r = _multiply_add(r2, p, r)  # exp(r) - 1 = r + r^2 p(r)
    # Bits of 2**n: biased exponent n + 1023 in bits 52..62 (the shift drops the high bits of
    # `shifted`, leaving n + 1023, which lies in [1, 2046] here).
    power_of_two = _float64_from_bits((_float64_bits(shifted) + 1023) << 52)
    return (1.0 + expm1_r) * power_of_two


# --------------------------------------------------------------------------------------------------
# Central differences of one x-row (float32, as ITK rounds them), with clamped neighbours.
# --------------------------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _half_difference(ahead, behind, out):
    """out = (ahead - behind) / 2 elementwise, in float32: a central difference across rows."""
    for i in range(out.shape[0]):
        out[i] = (ahead[i] - behind[i]) * _HALF


@numba.njit(cache=True, inline="always")
def _half_difference_along(row, out):
    """Central difference along the row itself, repeating the end values beyond both ends."""
    n = row.shape[0]
    if n == 1:
        out[0] = np.float32(0.0)
        return
    out[0] = (row[1] - row[0]) * _HALF
    for i in range(1, n - 1):
        out[i] = (row[i + 1] - row[i - 1]) * _HALF
    out[n - 1] = (row[n - 1] - row[n - 2]) * _HALF


@numba.njit(cache=True, inline="always")
def _face_flux(d, along_1, along_2, k):
    """d * exp((d^2 + s) / K) with s = 0.25 along_1^2 + 0.25 along_2^2 (all in double).

    ``d`` is the difference across the face, ``along_*`` are the sums of the two voxels' central
    differences along the two axes parallel to the face (twice their mean).
    """
    along = 0.25 * (along_1 * along_1) + 0.25 * (along_2 * along_2)
    return d * _exp_nonpositive((d * d + along) / k)


# --------------------------------------------------------------------------------------------------
# Fluxes through the forward faces of one row (z, y), along x, y and z.
# --------------------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _x_face_fluxes(u, z, y, k, flux, cy, cz):
    """flux[i + 1] = flux from (z, y, i) to (z, y, i + 1); flux[0] = flux[nx] = 0 (borders)."""
    nz, ny, nx = u.shape
    row = u[z, y]
    _half_difference(u[z, min(y + 1, ny - 1)], u[z, max(y - 1, 0)], cy)
    _half_difference(u[min(z + 1, nz - 1), y], u[max(z - 1, 0), y], cz)
    flux[0] = 0.0
    for i in range(nx - 1):
        d = np.float64(row[i + 1] - row[i])
        along_y = np.float64(cy[i]) + np.float64(cy[i + 1])
        along_z = np.float64(cz[i]) + np.float64(cz[i + 1])
        flux[i + 1] = _face_flux(d, along_y, along_z, k)
    flux[nx] = 0.0


@numba.njit(cache=True)
def _y_face_fluxes(u, z, y, k, flux, cx, cz, cx_next, cz_next):
    """flux[i] = flux from (z, y, i) to (z, y + 1, i); requires y + 1 < ny."""
    nz, _, nx = u.shape
    zm = max(z - 1, 0)
    zp = min(z + 1, nz - 1)
    row = u[z, y]
    row_next = u[z, y + 1]
    _half_difference_along(row, cx)
    _half_difference_along(row_next, cx_next)
    _half_difference(u[zp, y], u[zm, y], cz)
    _half_difference(u[zp, y + 1], u[zm, y + 1], cz_next)
    for i in range(nx):
        d = np.float64(row_next[i] - row[i])
        along_x = np.float64(cx[i]) + np.float64(cx_next[i])
        along_z = np.float64(cz[i]) + np.float64(cz_next[i])
        flux[i] = _face_flux(d, along_x, along_z, k)


@numba.njit(cache=True)
def _z_face_fluxes(u, z, y, k, flux, cx, cy, cx_next, cy_next):
    """flux[i] = flux from (z, y, i) to (z + 1, y, i); requires z + 1 < nz."""
    _, ny, nx = u.shape
    ym = max(y - 1, 0)
    yp = min(y + 1, ny - 1)
    row = u[z, y]
    row_next = u[z + 1, y]
    _half_difference_along(row, cx)
    _half_difference_along(row_next, cx_next)
    _half_difference(u[z, yp], u[z, ym], cy)
    _half_difference(u[z + 1, yp], u[z + 1, ym], cy_next)
    for i in range(nx):
        d = np.float64(row_next[i] - row[i])
        along_x = np.float64(cx[i]) + np.float64(cx_next[i])
        along_y = np.float64(cy[i]) + np.float64(cy_next[i])
        flux[i] = _face_flux(d, along_x, along_y, k)


# --------------------------------------------------------------------------------------------------
# The two passes of one iteration, each over a slab of z-planes [z_start, z_stop). They release the
# GIL, so slabs run in parallel on Python threads (this compiles much faster than numba's
# parallel=True, and the work per slab is large enough that a thread pool costs nothing).
# --------------------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _squared_gradient_sum(u, z_start, z_stop):
    """Sum over the slab's voxels of sum_a c_a^2 (double), c_a the clamped central differences.

    As in ITK's average-gradient computation, each difference is taken in float, halved in double.
    """
    nz, ny, nx = u.shape
    # Per-column partial sums keep the loops vectorizable; the order of a double sum of
    # non-negative terms does not matter at float precision (K is rounded to float).
    column_sums = np.zeros(nx, dtype=np.float64)
    for z in range(z_start, z_stop):
        zm = max(z - 1, 0)
        zp = min(z + 1, nz - 1)
        for y in range(ny):
            ym = max(y - 1, 0)
            yp = min(y + 1, ny - 1)
            row = u[z, y]
            row_ym = u[z, ym]
            row_yp = u[z, yp]
            row_zm = u[zm, y]
            row_zp = u[zp, y]
            for i in range(nx):
                gy = np.float64(row_yp[i] - row_ym[i]) * 0.5
                gz = np.float64(row_zp[i] - row_zm[i]) * 0.5
                column_sums[i] += gy * gy + gz * gz
            for i in range(1, nx - 1):
                gx = np.float64(row[i + 1] - row[i - 1]) * 0.5
                column_sums[i] += gx * gx
            if nx > 1:
                gx = np.float64(row[1] - row[0]) * 0.5
                column_sums[0] += gx * gx
                gx = np.float64(row[nx - 1] - row[nx - 2]) * 0.5
                column_sums[nx - 1] += gx * gx
    return column_sums.sum()


@numba.njit(cache=True, nogil=True)
def _diffusion_step_slab(u, out, k, time_step, z_start, z_stop):
    """One explicit diffusion step for planes [z_start, z_stop): read ``u``, write ``out``.

    Both are float32, C order, same shape. The z-faces just below the slab are also computed by
    the slab underneath (identically); every other face is computed once.
    """
    nz, ny, nx = u.shape
    # Row scratch for central differences (float32) and fluxes (double).
    scratch = np.empty((4, nx), dtype=np.float32)
    x_flux = np.empty(nx + 1, dtype=np.float64)
    y_flux_new = np.empty(nx, dtype=np.float64)
    y_flux_old = np.empty(nx, dtype=np.float64)  # through the faces below the current row
    z_flux_new = np.empty(nx, dtype=np.float64)
    z_flux_old = np.zeros((ny, nx), dtype=np.float64)  # through the faces below the current plane
    if z_start > 0:
        for y in range(ny):
            _z_face_fluxes(u, z_start - 1, y, k, z_flux_old[y],
                           scratch[0], scratch[1], scratch[2], scratch[3])
    for z in range(z_start, z_stop):
        y_flux_old[:] = 0.0  # nothing crosses the y = 0 border
        for y in range(ny):
            _x_face_fluxes(u, z, y, k, x_flux, scratch[0], scratch[1])
            if y + 1 < ny:
                _y_face_fluxes(u, z, y, k, y_flux_new,
                               scratch[0], scratch[1], scratch[2], scratch[3])
            else:
                y_flux_new[:] = 0.0
            if z + 1 < nz:
                _z_face_fluxes(u, z, y, k, z_flux_new,
                               scratch[0], scratch[1], scratch[2], scratch[3])
            else:
                z_flux_new[:] = 0.0
            row = u[z, y]
            out_row = out[z, y]
            z_flux_row = z_flux_old[y]
            for i in range(nx):
                # Net inflow: outgoing minus incoming flux per axis, summed x, y, z as in ITK.
                delta = x_flux[i + 1] - x_flux[i]
                delta += y_flux_new[i] - y_flux_old[i]
                delta += z_flux_new[i] - z_flux_row[i]
                # ITK's update buffer is float; the step is taken in double, then rounded.
                step = np.float32(np.float64(np.float32(delta)) * time_step)
                out_row[i] = row[i] + step
                y_flux_old[i] = y_flux_new[i]
                z_flux_row[i] = z_flux_new[i]


def _on_slabs(pool, function, slabs, *args):
    """``function(*args, z_start, z_stop)`` for every slab, in parallel; the results, in order.

    Waiting on each result re-raises any error from a worker.
    """
    futures = [pool.submit(function, *args, z_start, z_stop) for z_start, z_stop in slabs]
    return [future.result() for future in futures]


def gradient_anisotropic_diffusion(image, *, iterations, conductance, time_step) -> np.ndarray:
    """Gradient anisotropic diffusion of a 3D image with the numerics of ITK's filter.

    Reproduces ``itk.GradientAnisotropicDiffusionImageFilter`` (float image, unit spacing,
    conductance rescaled by the mean squared gradient magnitude at every iteration); see the module
    docstring for the exact scheme.

    Parameters
    ----------
    image : numpy.ndarray of float32, shape (Z, Y, X)
        C-contiguous, already validated; it is not modified.
    iterations : int
        Number of explicit diffusion steps (>= 0).
    conductance : float
        Conductance parameter (> 0); larger values diffuse across stronger edges.
    time_step : float
        Step size; 0.0625 or less keeps the 3D scheme stable.

    Returns
    -------
    numpy.ndarray of float32, shape (Z, Y, X)
        A new array. Besides it, one more image-sized float32 buffer is used while running.

    Notes
    -----
    Runs on as many threads as numba is set to use (``numba.set_num_threads``), each on a slab of
    z-planes.

    References
    ----------
    P. Perona and J. Malik, "Scale-space and edge detection using anisotropic diffusion",
    IEEE TPAMI 12(7), 1990.
    """
    n_planes = image.shape[0]
    # As many threads as numba is set to use (NUMBA_NUM_THREADS, numba.set_num_threads).
    n_workers = max(1, min(n_planes, numba.get_num_threads()))
    slabs = [(i * n_planes // n_workers, (i + 1) * n_planes // n_workers) for i in range(n_workers)]
    time_step = float(time_step)
    current = image
    spare = None
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for _ in range(int(iterations)):
            slab_sums = _on_slabs(pool, _squared_gradient_sum, slabs, current)
            mean_sq_gradient = sum(slab_sums) / current.size
            # ITK keeps K as a float: g * conductance * conductance * -2, multiplied in double.
            # (Past the float range K becomes -inf, as in ITK: every conductance is then 1.)
            with np.errstate(over="ignore"):
                k = float(np.float32(mean_sq_gradient * conductance * conductance * -2.0))
            if k == 0.0:
                # Zero conductance everywhere: this and every later iteration change nothing.
                break
            target = spare if spare is not None else np.empty_like(image)
            _on_slabs(pool, _diffusion_step_slab, slabs, current, target, k, time_step)
            # Ping-pong between two buffers; the caller's image is only ever read.
            spare = current if current is not image else None
            current = target
    if current is image:
        return image.copy()
    return current
