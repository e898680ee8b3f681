"""A realistic 2.5D package stack for benchmarks (40 x 40 mm, 10 layers, ~340 W).

Only the mesh and fields are built here (no chiplet knowledge enters :mod:`solvers`).
Layers, bottom (board side, h = 500 W/m^2/K) to top (heat sink, h = 2e4 W/m^2/K):

==============  ==========  ===========================================
layer           thickness   material (kx, ky, kz) [W/m/K]
==============  ==========  ===========================================
substrate       1.0 mm      organic with Cu planes (30, 30, 0.6)
C4 bumps        80 um       homogenised (0.8, 0.8, 4)
interposer      100 um      Si with TSVs (130, 130, 140)
microbumps      20 um       homogenised (1, 1, 6)
bond            2 um        hybrid-bond dielectric (1.4, 1.4, 1.4)
active          25 um       Si, power here; underfill (0.6) between dies
dies            750 um      Si (130); underfill (0.6) between dies
TIM             50 um       5
lid             1.5 mm      Cu 390
==============  ==========  ===========================================

Dies: one 16 x 16 mm GPU (260 W) in the centre and four 7 x 11 mm HBM stacks (20 W each)
on its left and right: 340 W in total. Conductivity contrast 390 / 0.6 = 650 laterally in
the die layer and 390 / 0.6 ~ 650 through the stack.
"""

from __future__ import annotations

import numpy as np

from solvers import TensorGrid, ThermalFields, graded_axis

SIZE = 40e-3
LAYERS = [  # name, thickness, (kx, ky, kz), z-cells, rho*c
    ("substrate", 1.0e-3, (30.0, 30.0, 0.6), 4, 2.0e6),
    ("c4", 80e-6, (0.8, 0.8, 4.0), 2, 2.0e6),
    ("interposer", 100e-6, (130.0, 130.0, 140.0), 2, 1.66e6),
    ("ubump", 20e-6, (1.0, 1.0, 6.0), 2, 2.0e6),
    ("bond", 2e-6, (1.4, 1.4, 1.4), 1, 2.0e6),
    ("active", 25e-6, None, 2, 1.66e6),
    ("dies", 750e-6, None, 6, 1.66e6),
    ("tim", 50e-6, (5.0, 5.0, 5.0), 2, 2.0e6),
    ("lid", 1.5e-3, (390.0, 390.0, 390.0), 3, 3.45e6),
]
DIES = [  # name, x0, y0, sx, sy, power
    ("gpu", 12e-3, 12e-3, 16e-3, 16e-3, 260.0),
    ("hbm0", 3e-3, 5e-3, 7e-3, 11e-3, 20.0),
    ("hbm1", 3e-3, 24e-3, 7e-3, 11e-3, 20.0),
    ("hbm2", 30e-3, 5e-3, 7e-3, 11e-3, 20.0),
    ("hbm3", 30e-3, 24e-3, 7e-3, 11e-3, 20.0),
]
SI = 130.0
UNDERFILL = 0.6


def make_problem(n_lateral: int, *, z_refine: int = 1):
    """Grid and fields with about ``n_lateral`` cells along x and y.

    Returns ``grid, fields`` with regions ``substrate, c4, interposer, ubump, bond, tim, lid,
    underfill, dies/<name>``.
    """
    bx = [0.0, SIZE] + [d[1] for d in DIES] + [d[1] + d[3] for d in DIES]
    by = [0.0, SIZE] + [d[2] for d in DIES] + [d[2] + d[4] for d in DIES]
    h = SIZE / n_lateral
    x = graded_axis(bx, max_size=h)
    y = graded_axis(by, max_size=h)
    zs = [0.0]
    zlayer = []
    for name, t, _, nzc, _ in LAYERS:
        n = nzc * z_refine
        zs.extend(zs[-1] + t * np.arange(1, n + 1) / n)
        zlayer.extend([name] * n)
    z = np.asarray(zs)
    nx, ny, nz = len(x) - 1, len(y) - 1, len(z) - 1
    xc, yc = 0.5 * (x[1:] + x[:-1]), 0.5 * (y[1:] + y[:-1])
    names = [L[0] for L in LAYERS if L[2] is not None] + ["underfill"] + [f"dies/{d[0]}" for d in DIES]
    rid = {n: i for i, n in enumerate(names)}
    region = np.zeros((nx, ny, nz), np.int32)
    kx, ky, kz = (np.zeros((nx, ny, nz)) for _ in range(3))
    cap = np.zeros((nx, ny, nz))
    q = np.zeros((nx, ny, nz))
    spec = {L[0]: L for L in LAYERS}
    dz = np.diff(z)
    for k, lname in enumerate(zlayer):
        _, t, kk, _, rc = spec[lname]
        cap[:, :, k] = rc
        if kk is not None:
            region[:, :, k] = rid[lname]
            kx[:, :, k], ky[:, :, k], kz[:, :, k] = kk
            continue
        region[:, :, k] = rid["underfill"]
        kx[:, :, k] = ky[:, :, k] = kz[:, :, k] = UNDERFILL
        for dname, x0, y0, sx, sy, p in DIES:
            m = ((xc > x0) & (xc < x0 + sx))[:, None] & ((yc > y0) & (yc < y0 + sy))[None, :]
            region[:, :, k][m] = rid[f"dies/{dname}"]
            kx[:, :, k][m] = ky[:, :, k][m] = kz[:, :, k][m] = SI
            if lname == "active":
                t_active = spec["active"][1]
                q[:, :, k][m] = p / (sx * sy * t_active)
    del dz
    grid = TensorGrid(x, y, z, region, tuple(names), region, tuple(names))
    fields = ThermalFields(
        kx=kx, ky=ky, kz=kz, heat_capacity=cap, source=q,
        h={"zmax": np.full((nx, ny), 2e4), "zmin": np.full((nx, ny), 500.0)},
        ambient={"zmax": np.full((nx, ny), 318.15), "zmin": np.full((nx, ny), 318.15)},
    )
    return grid, fields
