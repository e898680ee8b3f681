r"""Elastic material model, thermal strain with a glass transition, and the process history of a package.

Material data
-------------
Each plain :class:`~codesign.stack.Material` may carry Young's moduli ``(Ex, Ey, Ez)`` [Pa], Poisson
ratios ``(nu_xy, nu_yz, nu_xz)`` (``nu_ij = -eps_j / eps_i`` under a stress along ``i``), shear moduli
``(G_xy, G_yz, G_xz)`` [Pa] and CTEs ``(ax, ay, az)`` [1/K], below its glass transition ``Tg``; above
``Tg`` the moduli and CTEs given for that state apply (shear moduli and Poisson ratios: the moduli
scale alike, the ratios stay). Missing shear moduli follow ``G_ij = sqrt(Ei Ej) / (2 (1 + nu_ij))``,
which is exact for an isotropic material (Huber's approximation otherwise).

Thermal strain
--------------
The free thermal strain of an element from its stress-free temperature ``T0`` to ``T`` is the
integral of the CTE, which takes the glass transition into account exactly for a CTE that steps at
``Tg``:

.. math:: \varepsilon_{th} = \int_{T_0}^{T} \alpha(T')\,dT' = F(T) - F(T_0), \qquad
          F(T) = \alpha_1 \min(T, T_g) + \alpha_2 \max(T - T_g, 0).

The stiffness is taken at the load temperature ``T`` (the glassy or the rubbery moduli): a linear
(secant) model, without the viscoelastic relaxation of polymers.

Process history
---------------
Layers are stress-free at the temperature of the assembly step that bonds them
(:class:`ProcessStep`): die bonding, underfill cure, mould, lid attach. A layout lists the steps in
its ``[warpage]`` table (``docs/layout-format.md``); without them :func:`default_steps` applies.

Board support
-------------
With ``support = "board"`` (:class:`BoardSpec`) the package stands on its ball-grid array (BGA)
on a printed circuit board: :func:`with_board` appends two layers below the package bottom, the
joints (solder balls in open space or in a board-level underfill, homogenised by
:class:`BallGridRecipe`) and the board. Both are stress-free at the solder's solidus (SAC305:
217 degC), the board-assembly step; the whole is solved free-free.

*Balls in open space.* Free-standing columns give a layer with no in-plane membrane stiffness,
but the balls still carry the transverse shear between package and board by shear and bending.
A column of diameter ``d`` and height ``h``, clamped in rotation at both pads (a stiff package
and board), moved sideways by ``delta`` takes the force ``k delta`` with Timoshenko's beam
stiffness

.. math:: \frac{1}{k} = \frac{h^3}{12 E I} + \frac{h}{\kappa G A}, \qquad I = \frac{\pi d^4}{64},
          \quad A = \frac{\pi d^2}{4}, \quad \kappa = \frac{6 (1 + \nu)}{7 + 6 \nu}

(Timoshenko & Gere, *Mechanics of Materials*; Cowper's shear coefficient of a circular section,
J. Appl. Mech. 33, 335 (1966)). One column per ``p^2`` of area and a shear angle
``gamma = delta / h`` give the layer's transverse shear modulus ``G_xz = G_yz = k h / p^2``. The
recipe takes the larger of it and the fill-matrix (Halpin-Tsai) value, so a board-level underfill
keeps the composite formula. Along z the balls act in parallel (rule of mixtures); in plane the
fill's value stands (air: the placeholder of :mod:`codesign.materials`). A real ball is barrel
shaped with narrower pad necks: the cylinder of the ball's diameter over-states the stiffness
(est).

Solder-joint fatigue indicator
------------------------------
:func:`engelmaier_cycles` is Engelmaier's modified Coffin-Manson relation (IPC-D-279 (1996),
IPC-SM-785; W. Engelmaier, IEEE Trans. CHMT 6, 232 (1983)) for the cycles to failure of a
solder joint under a cyclic shear-strain range ``dgamma``:

.. math:: N_f = \frac{1}{2} \left(\frac{\Delta\gamma}{2 \varepsilon_f'}\right)^{1/c}, \quad
          \varepsilon_f' = 0.325, \quad c = -0.442 - 6\times10^{-4}\,T_{sj} + 1.74\times10^{-2} \ln(1 + f)

with ``T_sj`` the mean cyclic joint temperature [degC] and ``f`` the cycles per day (1 <= f <=
1000). It was fitted to eutectic SnPb; for SAC solders it is an early-design indicator only. An
energy-based model (Darveaux's crack initiation and growth from the viscoplastic work per cycle)
needs the inelastic strain energy of a creep analysis, which a linear-elastic solve does not give:
none is offered. Here the strain range is the elastic (secant) range between two solved states,
without creep or stress relaxation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .errors import ModelError
from .stack import Material, Stack

__all__ = [
    "BOARD_LAYERS",
    "BallGridRecipe",
    "BoardSpec",
    "DEFAULT_COPLANARITY_LIMIT",
    "DEFAULT_REFLOW_PEAK",
    "DEFAULT_ROOM_TEMPERATURE",
    "ProcessStep",
    "WarpageSpec",
    "default_steps",
    "engelmaier_cycles",
    "plain_mechanics",
    "thermal_strain",
    "with_board",
]

KELVIN = 273.15
#: Room temperature [K] (25 degC, JEDEC JESD22-B112's room-temperature point).
DEFAULT_ROOM_TEMPERATURE = 25.0 + KELVIN
#: Lead-free reflow peak [K]: 260 degC, the peak of the JEDEC J-STD-020 profile for small packages
#: (large packages 245-250 degC); JESD22-B112 measures warpage over this profile.
DEFAULT_REFLOW_PEAK = 260.0 + KELVIN
#: BGA coplanarity limit [m]: 0.22 mm, JEITA ED-7306's allowance at 1.0 mm ball pitch regardless of
#: package size (as compared with JESD22-B112 in SMT Magazine, Aug 2015, p. 42 "Warpage acceptance
#: proposal"); parameters.md: board-assembly limits are of order 100-200 um.
DEFAULT_COPLANARITY_LIMIT = 0.22e-3
_LIMIT_SOURCE = "JEITA ED-7306, 1.0 mm pitch BGA (SMT Magazine, Aug 2015, p. 42)"
#: Solidus of SAC305 (Sn-3.0Ag-0.5Cu) [K]: 217 degC (AIM SAC305 technical data sheet: melting range
#: 217-218 degC; JEIDA-recommended alloy). Board-assembled joints are stress-free when they freeze.
SAC305_SOLIDUS = 217.0 + KELVIN
#: The two layers :func:`with_board` appends below the package: (ball-grid joints, board).
BOARD_LAYERS = ("bga_joints", "board")
#: A stress-free temperature much above any Tg: a material without a glass transition.
_NO_TG = 1e6


@dataclass(frozen=True)
class ProcessStep:
    """An assembly step: the layers it bonds become stress-free at ``temperature`` [K]."""

    name: str
    temperature: float
    layers: tuple[str, ...]
    source: str = ""


@dataclass(frozen=True)
class BoardSpec:
    """The board a package is soldered to (``[warpage.board]``; SI units).

    Defaults: a 1.6 mm FR-4 board (the built-in ``pcb``; 1.57 mm = 0.062 in is the common board
    thickness, IPC-2221 / IPC-4101 practice) and a 1.0 mm pitch SAC305 ball grid of 0.6 mm balls
    (JEDEC JEP95 / MO-275-class 1.0 mm pitch BGAs use 0.5-0.6 mm balls) collapsed to 0.45 mm
    stand-off (est: about 3/4 of the ball diameter after reflow on 0.5 mm pads) in open space
    (``fill = "air"``: no board-level underfill). The joints and the board are stress-free at
    ``stress_free_temperature`` (SAC305 solidus, 217 degC).
    """

    thickness: float = 1.6e-3
    material: str = "pcb"
    ball_pitch: float = 1.0e-3
    ball_diameter: float = 0.6e-3
    ball_height: float = 0.45e-3
    ball_material: str = "sac305"
    fill: str = "air"
    stress_free_temperature: float = SAC305_SOLIDUS
    source: str = ("defaults: 1.6 mm FR-4 (IPC-4101 class), 1.0 mm pitch BGA with 0.6 mm SAC305 balls (JEDEC "
                   "JEP95 class), 0.45 mm stand-off (est), stress-free at the SAC305 solidus 217 degC (AIM data sheet)")


@dataclass(frozen=True)
class WarpageSpec:
    """The ``[warpage]`` table of a layout (SI units; see ``docs/layout-format.md``).

    ``steps`` empty: :func:`default_steps`. ``support``: ``"free"`` (free-free, rigid-body modes
    removed), ``"simply_supported"`` (on the ball grid: the bottom face held in z) or ``"board"``
    (soldered to the board of ``board``, the whole solved free-free; :func:`with_board`).
    ``fatigue_cycles_per_day``: the cycling frequency of the solder-joint fatigue indicator
    (:func:`engelmaier_cycles`; default 1 power cycle a day, est).
    Limits [m] are checked at room temperature and at the reflow peak; ``bump_shear_strain_limit``
    (none by default: no sourced value) flags the corner bump strain.
    """

    steps: tuple[ProcessStep, ...] = ()
    room_temperature: float = DEFAULT_ROOM_TEMPERATURE
    reflow_peak: float = DEFAULT_REFLOW_PEAK
    support: str = "free"
    coplanarity_limit: float = DEFAULT_COPLANARITY_LIMIT
    reflow_coplanarity_limit: float = DEFAULT_COPLANARITY_LIMIT
    bump_shear_strain_limit: float | None = None
    limit_source: str = _LIMIT_SOURCE
    source: str = ""
    board: BoardSpec | None = None
    fatigue_cycles_per_day: float = 1.0

    def __post_init__(self):
        if self.support == "board" and self.board is None:
            object.__setattr__(self, "board", BoardSpec())


def default_steps(stack: Stack) -> tuple[ProcessStep, ...]:
    """The process history assumed when a layout gives none (estimates; say so in reports).

    * ``flip_chip_underfill`` at 150 degC: the top layer with chiplets and every layer below it. The
      underfill cure locks dies, bumps, interposer and substrate together; solder alone relaxes by
      creep above it (est: capillary underfills cure at 150-165 degC).
    * ``lid_attach`` at 150 degC: the layers above (lid, TIM, stiffener ring): adhesive / TIM cure
      (est: 125-150 degC).
    """
    names = [layer.name for layer in stack.layers]
    first = next((i for i, layer in enumerate(stack.layers) if layer.chiplets), 0)
    steps = [ProcessStep("flip_chip_underfill", 150.0 + KELVIN, tuple(names[first:]),
                         "est: capillary underfill cure 150-165 degC")]
    if first > 0:
        steps.insert(0, ProcessStep("lid_attach", 150.0 + KELVIN, tuple(names[:first]),
                                    "est: lid adhesive / TIM cure 125-150 degC"))
    return tuple(steps)


def layer_stress_free(stack: Stack, steps: tuple[ProcessStep, ...]) -> dict[str, float]:
    """Layer name -> stress-free temperature [K] from ``steps``; every layer must be in one step."""
    out: dict[str, float] = {}
    for step in steps:
        for name in step.layers:
            stack.layer(name)  # UnknownNameError naming the layers
            if name in out:
                raise ModelError(f"warpage process steps: layer {name!r} is bonded by two steps; list it in one")
            out[name] = float(step.temperature)
    missing = [layer.name for layer in stack.layers if layer.name not in out]
    if missing:
        raise ModelError(f"warpage process steps: layer(s) {missing} are bonded by no step; add them to a step's "
                         "layers")
    return out


def _three(v) -> tuple:
    """A three-tuple from a scalar, a sequence or an array of three (kept as JAX scalars when traced)."""
    if isinstance(v, (tuple, list)):
        return tuple(v)
    if getattr(v, "ndim", 0) == 1:
        return (v[0], v[1], v[2])
    return (v, v, v)


def plain_mechanics(m: Material, *, above_tg: bool = False, E=None, nu=None, G=None, cte=None) -> tuple:
    """``(E, nu, G, alpha)`` three-tuples of a plain material, glassy or rubbery.

    ``E``, ``nu``, ``G``, ``cte`` override the material's glassy values (a design model's parameters,
    floats or JAX arrays); ``G=None`` with no shear moduli on the material follows the module's rule.
    """
    if not (m.youngs_modulus is not None and m.poisson_ratio is not None and m.cte is not None):
        raise ModelError(f"material {m.name!r} has no mechanical data (youngs_modulus, poisson_ratio, cte); give them "
                         f"under [materials.{m.name}] to include it in a warpage analysis")
    e = _three(m.youngs_modulus if E is None else E)
    n = _three(m.poisson_ratio if nu is None else nu)
    a = _three(m.cte if cte is None else cte)
    if G is not None:
        g = _three(G)
    elif m.shear_modulus is not None:
        g = _three(m.shear_modulus)
    else:
        g = tuple(_sqrt(e[i] * e[j]) / (2.0 * (1.0 + n[k])) for k, (i, j) in enumerate(((0, 1), (1, 2), (0, 2))))
    if above_tg and m.glass_transition is not None:
        if m.youngs_modulus_above_tg is not None:
            ratio = [r / s for r, s in zip(_three(m.youngs_modulus_above_tg), _three(m.youngs_modulus))]
            e = tuple(ei * r for ei, r in zip(e, ratio))
            g = (g[0] * _sqrt(ratio[0] * ratio[1]), g[1] * _sqrt(ratio[1] * ratio[2]),
                 g[2] * _sqrt(ratio[0] * ratio[2]))
        if m.cte_above_tg is not None:
            a = tuple(ai * (r / s) for ai, r, s in zip(a, _three(m.cte_above_tg), _three(m.cte)))
    return e, n, g, a


def _sqrt(x):
    return math.sqrt(x) if isinstance(x, (int, float)) else x ** 0.5


def glass_transition(m: Material, stack: Stack) -> float:
    """The temperature [K] at which a (possibly homogenised) material turns rubbery: the lowest Tg
    of it or its parents; a large number when none has one."""
    if m.recipe is None:
        return float(m.glass_transition) if m.glass_transition is not None else _NO_TG
    return min([glass_transition(stack.material(p), stack) for p in m.recipe.parents] + [_NO_TG])


def thermal_strain(cte, cte_above, tg, t_ref, t, xp=np):
    """Free thermal strain ``∫ alpha dT`` from ``t_ref`` to ``t`` with a CTE step at ``tg`` (module docstring)."""
    def antiderivative(temp):
        return cte * xp.minimum(temp, tg) + cte_above * xp.maximum(temp - tg, 0.0)

    return antiderivative(t) - antiderivative(t_ref)


# ======================================================================================
# board support
@dataclass(frozen=True)
class BallGridRecipe:
    """Solder balls (an :class:`~codesign.stack.Interconnect` of kind ``"bga"``) of height ``height``
    [m] between a package and its board (module docstring: balls in open space).

    Thermal properties as any interconnect array (:class:`codesign.homogenise.InterconnectRecipe`);
    elastic constants from the column composite with the transverse shear modulus raised to the
    Timoshenko-column value where the fill is softer.
    """

    spec: object
    height: float

    @property
    def parents(self) -> tuple[str, ...]:
        return (self.spec.material, self.spec.fill)

    def properties(self, lookup) -> tuple:
        from .homogenise import InterconnectRecipe

        return InterconnectRecipe(self.spec).properties(lookup)

    def column_shear_modulus(self, ball: tuple):
        """``G_xz = k h / p^2`` of clamped-clamped Timoshenko columns (``ball``: ``(E, nu, G, alpha)``)."""
        d, p, h = self.spec.diameter, self.spec.pitch, self.height
        e, nu, g = ball[0][2], ball[1][2], ball[2][2]  # axial modulus, nu_xz, G_xz of the ball
        inertia = math.pi * d ** 4 / 64.0
        area = math.pi * d ** 2 / 4.0
        kappa = 6.0 * (1.0 + nu) / (7.0 + 6.0 * nu)
        k = 1.0 / (h ** 3 / (12.0 * e * inertia) + h / (kappa * g * area))
        return k * h / p ** 2

    def mechanical(self, lookup) -> tuple:
        from .homogenise import area_fraction, fibre_composite

        ball, fill = lookup(self.spec.material), lookup(self.spec.fill)
        e, nu, g, a = fibre_composite(area_fraction(self.spec.pitch, self.spec.diameter), ball, fill)
        gc = self.column_shear_modulus(ball)
        gxz = _maximum(g[1], gc)
        return e, nu, (g[0], gxz, gxz), a


def _maximum(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return max(a, b)
    import jax.numpy as jnp

    return jnp.maximum(a, b)


def with_board(stack: Stack, board: BoardSpec | None = None) -> Stack:
    """``stack`` with the ball-grid joints and the board appended below its bottom layer
    (:data:`BOARD_LAYERS`); a stack that has them already is returned as it is.

    The joints cover the package's bottom layer (open space, which carries nothing, around it);
    the board covers the whole package outline. Materials named by ``board`` that the stack lacks
    come from the built-in library (:mod:`codesign.materials`).
    """
    import dataclasses

    from .materials import BUILTIN_MATERIALS
    from .stack import Interconnect, Layer

    if has_board(stack):
        return stack
    b = board or BoardSpec()
    names = [layer.name for layer in stack.layers]
    clash = [n for n in BOARD_LAYERS if n in names]
    if clash:
        raise ModelError(f"warpage support 'board': the layout already has layer(s) {clash}, the names of the "
                         "board layers appended below the package; rename those layers")
    if not b.ball_diameter < b.ball_pitch:
        raise ModelError(f"[warpage.board]: ball_diameter {b.ball_diameter * 1e3:g} mm is not below ball_pitch "
                         f"{b.ball_pitch * 1e3:g} mm; give a ball diameter smaller than the pitch")
    have = {m.name: m for m in stack.materials}
    extra = []
    for role, name in (("material", b.material), ("ball_material", b.ball_material), ("fill", b.fill)):
        m = have.get(name) or BUILTIN_MATERIALS.get(name)
        if m is None:
            raise ModelError(f"[warpage.board] {role}: unknown material {name!r}; use a built-in material (e.g. "
                             f"'pcb', 'sac305', 'air', 'underfill') or define it under [materials.{name}]")
        if not m.has_mechanics:
            raise ModelError(f"[warpage.board] {role}: material {name!r} has no mechanical data (youngs_modulus, "
                             f"poisson_ratio, cte); give them under [materials.{name}]")
        if name not in have:
            have[name] = m
            extra.append(m)
    bottom = stack.layers[-1]
    ic = Interconnect("bga", pitch=b.ball_pitch, diameter=b.ball_diameter, material=b.ball_material, fill=b.fill)
    joints = Layer(name=BOARD_LAYERS[0], thickness=b.ball_height, material=b.fill, extent=bottom.extent,
                   surround="air", interconnect=ic)
    board_layer = Layer(name=BOARD_LAYERS[1], thickness=b.thickness, material=b.material, extent=stack.package)
    recipe = BallGridRecipe(ic, b.ball_height)
    kx, ky, kz, c = recipe.properties(lambda n: (have[n].kx, have[n].ky, have[n].kz, have[n].heat_capacity))
    from .stack import Material

    f = math.pi * b.ball_diameter ** 2 / (4 * b.ball_pitch ** 2)
    derived = Material(name=f"{BOARD_LAYERS[0]}:bga", kx=float(kx), ky=float(ky), kz=float(kz), heat_capacity=float(c),
                       recipe=recipe, source=(f"homogenised BGA: {b.ball_material} balls d={b.ball_diameter * 1e3:.3g} mm "
                                              f"at pitch {b.ball_pitch * 1e3:.3g} mm (f={f:.4f}) in {b.fill}, "
                                              f"height {b.ball_height * 1e3:.3g} mm"))
    if "air" not in have:  # the joints' surround
        extra.append(BUILTIN_MATERIALS["air"])
    return dataclasses.replace(stack, layers=stack.layers + (joints, board_layer),
                               materials=stack.materials + tuple(extra) + (derived,))


def has_board(stack: Stack) -> bool:
    """Whether ``stack`` ends with the layers :func:`with_board` appends."""
    return tuple(layer.name for layer in stack.layers[-2:]) == BOARD_LAYERS and \
        stack.layers[-2].interconnect is not None and stack.layers[-2].interconnect.kind == "bga"


def without_board(stack: Stack) -> Stack:
    """The package of a stack made by :func:`with_board` (the board layers and their materials removed)."""
    import dataclasses

    if not has_board(stack):
        return stack
    return dataclasses.replace(stack, layers=stack.layers[:-2],
                               materials=tuple(m for m in stack.materials if m.name != f"{BOARD_LAYERS[0]}:bga"))


def board_step(board: BoardSpec) -> ProcessStep:
    """The board-assembly step: the joints and the board stress-free at the solder's solidus."""
    return ProcessStep("board_assembly", board.stress_free_temperature, BOARD_LAYERS,
                       "SAC305 solidus 217 degC (AIM SAC305 data sheet)"
                       if board.stress_free_temperature == SAC305_SOLIDUS else "layout")


# ======================================================================================
# solder-joint fatigue (module docstring)
#: Engelmaier's fatigue ductility coefficient of solder (IPC-D-279; Engelmaier 1983).
ENGELMAIER_DUCTILITY = 0.325


def engelmaier_exponent(mean_temperature_c, cycles_per_day):
    """Engelmaier's fatigue ductility exponent ``c = -0.442 - 6e-4 T_sj + 1.74e-2 ln(1 + f)``
    (``T_sj`` [degC], ``f`` cycles per day)."""
    return -0.442 - 6e-4 * mean_temperature_c + 1.74e-2 * math.log(1.0 + cycles_per_day)


def engelmaier_cycles(shear_strain_range: float, mean_temperature_c: float, cycles_per_day: float = 1.0) -> float:
    """Cycles to failure ``N_f = 1/2 (dgamma / (2 eps_f'))^(1/c)`` of a solder joint (module docstring).

    ``shear_strain_range`` is the cyclic shear-strain range [-], ``mean_temperature_c`` the mean
    cyclic joint temperature [degC]. An early-design indicator (SnPb-fitted; elastic strain range,
    no creep). Zero strain range: infinite life.
    """
    if not (shear_strain_range >= 0 and math.isfinite(shear_strain_range)):
        raise ModelError(f"engelmaier_cycles: shear strain range {shear_strain_range!r} is not a finite number >= 0")
    if not 0 < cycles_per_day <= 1000:
        raise ModelError(f"engelmaier_cycles: {cycles_per_day!r} cycles per day is outside the model's range "
                         "(0, 1000]; give the cycling frequency of the application")
    if shear_strain_range == 0:
        return math.inf
    c = engelmaier_exponent(mean_temperature_c, cycles_per_day)
    return 0.5 * (shear_strain_range / (2.0 * ENGELMAIER_DUCTILITY)) ** (1.0 / c)
