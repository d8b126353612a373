"""Compiled (numba) kernels for the Hessian-based filament filters; see :mod:`helpers.filaments`.

The kernels compute, voxel by voxel and without storing the Hessian, exactly what the reference
computes with whole-volume NumPy arrays:

* second derivatives as ``numpy.gradient`` applied twice (central differences inside, one-sided
  first differences at the borders), with the same float32 rounding of every intermediate;
* the eigenvalues of the symmetric 3x3 (or 2x2) Hessian in closed form, in float64, then rounded
  to float32 as LAPACK's single-precision solver in the reference returns them;
* eigenvalues ordered by absolute value, ties kept in ascending order (a stable sort of the
  ascending eigenvalues, as in the reference).

Fusing these steps keeps the memory at a few copies of the image (the reference stores the full
3x3 Hessian, 9 floats a voxel) and lets numba spread the z-slices over the cores.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_F32 = np.float32
_HALF = np.float32(0.5)
_SQRT3_HALF = math.sqrt(3.0) / 2.0


@numba.njit(cache=True)
def _derivative(g, z, y, x, axis):
    """numpy.gradient of array ``g`` along ``axis`` at (z, y, x), in float32 like NumPy.

    Central difference inside, one-sided first difference at the two borders.
    """
    if axis == 0:
        n, i = g.shape[0], z
        if i == 0:
            return g[1, y, x] - g[0, y, x]
        if i == n - 1:
            return g[i, y, x] - g[i - 1, y, x]
        return (g[i + 1, y, x] - g[i - 1, y, x]) * _HALF
    if axis == 1:
        n, i = g.shape[1], y
        if i == 0:
            return g[z, 1, x] - g[z, 0, x]
        if i == n - 1:
            return g[z, i, x] - g[z, i - 1, x]
        return (g[z, i + 1, x] - g[z, i - 1, x]) * _HALF
    n, i = g.shape[2], x
    if i == 0:
        return g[z, y, 1] - g[z, y, 0]
    if i == n - 1:
        return g[z, y, i] - g[z, y, i - 1]
    return (g[z, y, i + 1] - g[z, y, i - 1]) * _HALF


@numba.njit(cache=True)
def _symmetric_eigenvalues_3(a, b, c, d, e, f):
    """Eigenvalues (ascending) of [[a, d, e], [d, b, f], [e, f, c]] by the trigonometric method.

    With q the mean of the diagonal and p the scaled deviation of the matrix from q I, the
    eigenvalues are q + 2 p cos(phi + 2 pi k / 3), phi = acos(det(H - q I) / (2 p^3)) / 3.
    One division, one acos and one cos per voxel; the middle eigenvalue follows from the trace.
    """
    q = (a + b + c) * (1.0 / 3.0)
    aq, bq, cq = a - q, b - q, c - q
    p2 = aq * aq + bq * bq + cq * cq + 2.0 * (d * d + e * e + f * f)
    if p2 == 0.0:  # a multiple of the identity
        return q, q, q
    p = math.sqrt(p2 * (1.0 / 6.0))
    det = aq * (bq * cq - f * f) - d * (d * cq - f * e) + e * (d * f - bq * e)
    r = det / (2.0 * p * p * p)
    if r <= -1.0:
        phi = math.pi / 3.0
    elif r >= 1.0:
        phi = 0.0
    else:
        phi = math.acos(r) * (1.0 / 3.0)
    # cos(phi + 2 pi / 3) from cos(phi) and sin(phi): one trigonometric call fewer.
    cos_phi = math.cos(phi)
    sin_phi = math.sqrt(max(0.0, 1.0 - cos_phi * cos_phi))
    high = q + 2.0 * p * cos_phi
    low = q + 2.0 * p * (-0.5 * cos_phi - _SQRT3_HALF * sin_phi)
    middle = 3.0 * q - low - high
    # rounding can leave the three slightly out of order
    if low > middle:
        low, middle = middle, low
    if middle > high:
        middle, high = high, middle
    if low > middle:
        low, middle = middle, low
    return low, middle, high


@numba.njit(cache=True)
def _sort_by_magnitude_3(l0, l1, l2):
    """Stable sort of ascending values by absolute value (insertion sort, as NumPy does for 3)."""
    a, b, c = l0, l1, l2
    if abs(b) < abs(a):
        a, b = b, a
    if abs(c) < abs(b):
        b, c = c, b
        if abs(b) < abs(a):
            a, b = b, a
    return a, b, c


@numba.njit(cache=True)
def _plane_gradient_z(s, z, out):
    """numpy.gradient of the volume ``s`` along z, at plane ``z``, into the (Y, X) plane ``out``."""
    nz, ny, nx = s.shape
    if z == 0:
        for y in range(ny):
            for x in range(nx):
                out[y, x] = s[1, y, x] - s[0, y, x]
    elif z == nz - 1:
        for y in range(ny):
            for x in range(nx):
                out[y, x] = s[z, y, x] - s[z - 1, y, x]
    else:
        for y in range(ny):
            for x in range(nx):
                out[y, x] = (s[z + 1, y, x] - s[z - 1, y, x]) * _HALF


@numba.njit(cache=True)
def _plane_gradient_y(plane, out):
    """numpy.gradient of a (Y, X) plane along y."""
    ny, nx = plane.shape
    for x in range(nx):
        out[0, x] = plane[1, x] - plane[0, x]
        out[ny - 1, x] = plane[ny - 1, x] - plane[ny - 2, x]
    for y in range(1, ny - 1):
        for x in range(nx):
            out[y, x] = (plane[y + 1, x] - plane[y - 1, x]) * _HALF


@numba.njit(cache=True)
def _plane_gradient_x(plane, out):
    """numpy.gradient of a (Y, X) plane along x."""
    ny, nx = plane.shape
    for y in range(ny):
        out[y, 0] = plane[y, 1] - plane[y, 0]
        out[y, nx - 1] = plane[y, nx - 1] - plane[y, nx - 2]
        for x in range(1, nx - 1):
            out[y, x] = (plane[y, x + 1] - plane[y, x - 1]) * _HALF


@numba.njit(parallel=True, cache=True)
def hessian_eigenvalues_3d(smoothed, scale, out_small, out_middle, out_large, slice_minimum_large):
    """Eigenvalues of the scaled 3D Hessian of ``smoothed``, ordered by magnitude.

    The Hessian is numpy.gradient applied twice, exactly; it is built one z-plane at a time in
    small per-slice buffers, so no gradient volume is ever stored. Writes float32 eigenvalues into
    the three (Z, Y, X) outputs (``out_small`` may be a dummy of shape (1, 1, 1) when not needed)
    and, per z-slice, the minimum of the largest-magnitude eigenvalue into ``slice_minimum_large``.
    """
    nz, ny, nx = smoothed.shape
    scale32 = np.float32(scale)
    keep_small = out_small.shape == smoothed.shape
    for z in numba.prange(nz):
        gz = np.empty((ny, nx), np.float32)
        g_other = np.empty((ny, nx), np.float32)
        hzz = np.empty((ny, nx), np.float32)
        hzy = np.empty((ny, nx), np.float32)
        hzx = np.empty((ny, nx), np.float32)
        hyy = np.empty((ny, nx), np.float32)
        hyx = np.empty((ny, nx), np.float32)
        hxx = np.empty((ny, nx), np.float32)
        # d/dz of d/dz: the z-gradient at the neighbouring planes (one-sided at the ends)
        if z == 0:
            _plane_gradient_z(smoothed, 0, gz)
            _plane_gradient_z(smoothed, 1, g_other)
            for y in range(ny):
                for x in range(nx):
                    hzz[y, x] = g_other[y, x] - gz[y, x]
        elif z == nz - 1:
            _plane_gradient_z(smoothed, z - 1, g_other)
            _plane_gradient_z(smoothed, z, gz)
            for y in range(ny):
                for x in range(nx):
                    hzz[y, x] = gz[y, x] - g_other[y, x]
        else:
            _plane_gradient_z(smoothed, z - 1, g_other)
            _plane_gradient_z(smoothed, z + 1, hzz)
            for y in range(ny):
                for x in range(nx):
                    hzz[y, x] = (hzz[y, x] - g_other[y, x]) * _HALF
            _plane_gradient_z(smoothed, z, gz)
        _plane_gradient_y(gz, hzy)
        _plane_gradient_x(gz, hzx)
        _plane_gradient_y(smoothed[z], g_other)
        _plane_gradient_y(g_other, hyy)
        _plane_gradient_x(g_other, hyx)
        _plane_gradient_x(smoothed[z], g_other)
        _plane_gradient_x(g_other, hxx)
        slice_min = np.inf
        for y in range(ny):
            for x in range(nx):
                l0, l1, l2 = _symmetric_eigenvalues_3(
                    np.float64(hzz[y, x] * scale32), np.float64(hyy[y, x] * scale32),
                    np.float64(hxx[y, x] * scale32), np.float64(hzy[y, x] * scale32),
                    np.float64(hzx[y, x] * scale32), np.float64(hyx[y, x] * scale32))
                s0, s1, s2 = _sort_by_magnitude_3(np.float32(l0), np.float32(l1), np.float32(l2))
                if keep_small:
                    out_small[z, y, x] = s0
                out_middle[z, y, x] = s1
                out_large[z, y, x] = s2
                if s2 < slice_min:
                    slice_min = s2
        slice_minimum_large[z] = slice_min


@numba.njit(cache=True)
def _jerman_response(l2, lr):
    """Jerman et al. (2016) vesselness from the middle eigenvalue and the regularized largest one.

    float32 arithmetic throughout, in the reference's order of operations.
    """
    diff = abs(lr - l2)
    numerator = l2 * l2 * diff
    numerator = np.float32(27.0) * numerator
    denominator = np.float32(2.0) * abs(l2) + diff
    denominator = denominator * denominator * denominator
    if denominator == 0:
        denominator = np.float32(1e-10)
    response = numerator / denominator
    if l2 < _HALF * lr:
        response = np.float32(1.0)
    return response


@numba.njit(parallel=True, cache=True)
def vesselness_3d(middle, large, tau_min_large, out):
    """F3 response: R from the middle and largest eigenvalues (see filaments.filament_response_3d).

    ``out`` may be ``middle`` itself (the response overwrites the eigenvalue it was computed from).
    """
    nz, ny, nx = middle.shape
    for z in numba.prange(nz):
        for y in range(ny):
            for x in range(nx):
                l2 = middle[z, y, x]
                l3 = large[z, y, x]
                if l2 >= 0 or l3 >= 0:
                    out[z, y, x] = 0.0
                    continue
                lr = l3
                if l3 > tau_min_large:
                    lr = tau_min_large
                out[z, y, x] = _jerman_response(l2, lr)


@numba.njit(parallel=True, cache=True)
def hessian_large_eigenvalue_2d(gy, gx, scale, out_large, slice_minimum_large):
    """Larger-magnitude eigenvalue of the scaled 2D Hessian of every z-slice.

    ``gy, gx`` (Z, Y, X) are the in-slice first derivatives (numpy.gradient along y and x) of the
    smoothed image. Also records the minimum of that eigenvalue per slice.
    """
    nz, ny, nx = gy.shape
    scale32 = np.float32(scale)
    for z in numba.prange(nz):
        slice_min = np.inf
        for y in range(ny):
            for x in range(nx):
                hyy = np.float64(_derivative(gy, z, y, x, 1) * scale32)
                hyx = np.float64(_derivative(gy, z, y, x, 2) * scale32)
                hxx = np.float64(_derivative(gx, z, y, x, 2) * scale32)
                half_trace = 0.5 * (hyy + hxx)
                radius = math.sqrt(0.25 * (hyy - hxx) ** 2 + hyx * hyx)
                low = np.float32(half_trace - radius)
                high = np.float32(half_trace + radius)
                # stable sort of (low, high) by magnitude: the larger-magnitude one, ties -> high
                large = low if abs(low) > abs(high) else high
                out_large[z, y, x] = large
                if large < slice_min:
                    slice_min = large
        slice_minimum_large[z] = slice_min


@numba.njit(parallel=True, cache=True)
def vesselness_2d(large, tau_min_per_slice, n_columns, out):
    """F2 response per slice from the larger-magnitude eigenvalue; only ``n_columns`` are written."""
    nz, ny, _ = large.shape
    for z in numba.prange(nz):
        tau_min = tau_min_per_slice[z]
        for y in range(ny):
            for x in range(n_columns):
                l2 = large[z, y, x]
                if l2 >= 0:
                    out[z, y, x] = 0.0
                    continue
                lr = l2
                if l2 >= tau_min:
                    lr = tau_min
                out[z, y, x] = _jerman_response(l2, lr)
