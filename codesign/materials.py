"""Built-in material library: handbook values, each with its public source.

A layout may use these names directly, or define materials of its own in ``[materials]``
(a layout definition with the same name replaces the built-in one for that layout).
Conductivities are at 300 K unless a temperature exponent is given: ``k(T) = k·(T/T_ref)^n``.
Heat capacities are volumetric, rho*c [J/m^3/K].
"""

from __future__ import annotations

from .stack import Material

__all__ = ["BUILTIN_MATERIALS"]

_INCROPERA = "Incropera, DeWitt, Bergman & Lavine, Fundamentals of Heat and Mass Transfer, 6th ed., Tables A.1-A.3 (300 K)"


def _iso(name, k, rho_c, source, exponent=0.0):
    return Material(name=name, kx=k, ky=k, kz=k, heat_capacity=rho_c,
                    temperature_exponent=exponent, reference_temperature=300.0, source=source)


BUILTIN_MATERIALS: dict[str, Material] = {m.name: m for m in [
    # Silicon: k = 148 W/m/K at 300 K (Incropera Table A.1), falling ~T^-1.3 near room temperature
    # (Glassbrenner & Slack, Phys. Rev. 134, A1058 (1964)); rho = 2330 kg/m^3, cp = 712 J/kg/K.
    _iso("silicon", 148.0, 2330 * 712, _INCROPERA + "; k(T) ~ T^-1.3: Glassbrenner & Slack, Phys. Rev. 134 A1058 (1964)", -1.3),
    _iso("silicon_const", 148.0, 2330 * 712, _INCROPERA + " (temperature-independent variant)"),
    # Copper: k = 401 W/m/K, rho = 8933, cp = 385 (Incropera Table A.1).
    _iso("copper", 401.0, 8933 * 385, _INCROPERA),
    # Aluminium: k = 237 W/m/K, rho = 2702, cp = 903 (Incropera Table A.1).
    _iso("aluminium", 237.0, 2702 * 903, _INCROPERA),
    # Indium (solder TIM): k = 81.8 W/m/K (CRC Handbook of Chemistry and Physics, "Thermal
    # conductivity of the elements"); rho = 7310 kg/m^3, cp = 233 J/kg/K (CRC).
    _iso("indium", 81.8, 7310 * 233, "CRC Handbook of Chemistry and Physics, thermal conductivity and heat capacity of the elements"),
    # SAC305 solder (C4 bumps, microbumps): ~58 W/m/K (NIST/Colorado School of Mines, "Database for
    # solder properties with emphasis on new lead-free solders", Siewert et al., 2002); parameters.md
    # lists 55-60. rho = 7400 kg/m^3, cp ~ 230 J/kg/K (same database; est).
    _iso("sac305", 58.0, 7400 * 230, "Siewert et al., NIST lead-free solder property database (2002); shared/reference/parameters.md (55-60 W/m/K)"),
    # Fused silica / SiO2 bonding dielectric: k = 1.38 W/m/K, rho = 2220, cp = 745 (Incropera Table A.2).
    _iso("silicon_dioxide", 1.38, 2220 * 745, _INCROPERA + " (fused silica)"),
    # Borosilicate glass core: k = 1.1 W/m/K (shared/reference/parameters.md handbook range);
    # rho = 2225, cp = 835 (Incropera Table A.3, Pyrex).
    _iso("glass", 1.1, 2225 * 835, "shared/reference/parameters.md (borosilicate ~1.1 W/m/K); rho*c: " + _INCROPERA + " (Pyrex)"),
    # Capillary underfill and epoxy mold compound: 0.5-1 W/m/K (parameters.md handbook range);
    # rho*c ~ 1.7 MJ/m^3/K is an estimate for silica-filled epoxy (est).
    _iso("underfill", 0.6, 1.7e6, "shared/reference/parameters.md (underfill 0.5-1 W/m/K); rho*c est"),
    _iso("mold", 0.9, 1.7e6, "shared/reference/parameters.md (mold compound 0.5-1 W/m/K); rho*c est"),
    # Polymer TIM (TIM1/TIM2 greases and pads): 3-8 W/m/K (parameters.md); rho*c est.
    _iso("tim_polymer", 5.0, 2.5e6, "shared/reference/parameters.md (polymer TIM 3-8 W/m/K); rho*c est"),
    # Air gap: k = 0.0263 W/m/K, rho = 1.1614, cp = 1007 (Incropera Table A.4, 300 K).
    _iso("air", 0.0263, 1.1614 * 1007, _INCROPERA + " (Table A.4, air)"),
    # Organic build-up substrate, homogenised: anisotropic, in-plane tens of W/m/K and through-plane
    # below a few W/m/K, set by the copper fraction (parameters.md). 30 / 0.7 W/m/K is an estimate
    # for a ~10 % copper build-up core (est; override with your stack-up).
    Material(name="organic_substrate", kx=30.0, ky=30.0, kz=0.7, heat_capacity=2.0e6,
             source="est within shared/reference/parameters.md range (in-plane tens, through-plane < few W/m/K); override with your stack-up"),
    # FR-4 printed circuit board with copper planes, homogenised (est; override).
    Material(name="pcb", kx=20.0, ky=20.0, kz=0.4, heat_capacity=1.9e6,
             source="est: FR-4 (~0.3 W/m/K) with copper planes; override with your board stack-up"),
]}


# -- mechanical properties (warpage; codesign.mechanics) -------------------------------------------
# E [Pa], nu, CTE [1/K] at room temperature, below the glass transition. Axes: x, y in the package
# plane, z through it. Poisson ratios are (nu_xy, nu_yz, nu_xz), nu_ij = -eps_j / eps_i under a
# stress along i. "est" marks our engineering estimate. Sources as listed in
# shared/reference/parameters.md ("Mechanical properties"), with the primary reference named.
_P_MECH = "shared/reference/parameters.md, mechanical properties table"


def _mech(name, E, nu, cte, source, *, G=None, tg=None, E_above=None, cte_above=None):
    import dataclasses

    def three(v):
        return tuple(float(x) for x in v) if isinstance(v, (tuple, list)) else (float(v),) * 3

    m = BUILTIN_MATERIALS[name]
    return dataclasses.replace(
        m, youngs_modulus=three(E), poisson_ratio=three(nu), shear_modulus=None if G is None else three(G),
        cte=three(cte), glass_transition=tg, youngs_modulus_above_tg=None if E_above is None else three(E_above),
        cte_above_tg=None if cte_above is None else three(cte_above), mechanical_source=source)


_C = 273.15
_SI_HOPCROFT = ("Hopcroft, Nix & Kenny, 'What is the Young's modulus of silicon?', J. MEMS 19, 229 (2010): (100) wafer, "
                "x, y along <110>: Ex = Ey = 169, Ez = 130 GPa, nu_xy 0.064, nu_yz = nu_xz 0.36, G_xy 50.9, "
                "G_yz = G_xz 79.6 GPa; CTE 2.6e-6 1/K (Okada & Tokumaru, J. Appl. Phys. 56, 314 (1984); "
                + _P_MECH + ": 2.3-2.6 ppm/K)")
_SI = dict(E=(169e9, 169e9, 130e9), nu=(0.064, 0.36, 0.36), cte=2.6e-6, G=(50.9e9, 79.6e9, 79.6e9),
           source=_SI_HOPCROFT)
BUILTIN_MATERIALS.update({m.name: m for m in [
    _mech("silicon", **_SI),
    _mech("silicon_const", **_SI),
    # Copper (lids, TSV, pillars): Intel Packaging Databook (2000) Table 5-1: 125 GPa, 16 ppm/K;
    # nu 0.34 (MORE-Stress config, parameters.md 0.34-0.35).
    _mech("copper", 125e9, 0.34, 16e-6, "Intel Packaging Databook (2000) Table 5-1 (E 125 GPa, CTE 16 ppm/K); "
                                       "nu 0.34: " + _P_MECH),
    # Aluminium: E 70 GPa, nu 0.33, CTE 23.1 ppm/K (CRC Handbook of Chemistry and Physics: elastic
    # constants of polycrystalline metals; thermal expansion of the elements at 25 degC).
    _mech("aluminium", 70e9, 0.33, 23.1e-6, "CRC Handbook of Chemistry and Physics: elastic constants and "
                                           "thermal expansion of the elements (25 degC)"),
    # Indium: E 10.6 GPa, nu 0.45, CTE 32.1 ppm/K (CRC Handbook, as above).
    _mech("indium", 10.6e9, 0.45, 32.1e-6, "CRC Handbook of Chemistry and Physics: elastic constants and "
                                          "thermal expansion of the elements (25 degC)"),
    _mech("sac305", 51e9, 0.36, 21e-6, "ThermoMechSim3D materials table, via " + _P_MECH),
    _mech("silicon_dioxide", 71e9, 0.16, 0.5e-6, "MORE-Stress config and ThermoMechSim3D, via " + _P_MECH
          + " (SiO2 70-71 GPa, 0.16-0.17, 0.5 ppm/K)"),
    _mech("glass", 64e9, 0.20, 3.3e-6, "TGV thermo-mechanical study material_properties table, via " + _P_MECH),
    # Underfill: 8.5 GPa, 0.35, 30 ppm/K below Tg (ThermoMechSim3D via parameters.md). Tg 120 degC,
    # E 0.3 GPa and CTE 100 ppm/K above Tg are estimates (est: silica-filled capillary underfills list
    # Tg 100-150 degC and alpha2 ~3x alpha1 on datasheets; no primary source read here).
    _mech("underfill", 8.5e9, 0.35, 30e-6, "below Tg: ThermoMechSim3D materials table via " + _P_MECH
          + "; Tg 120 degC, E 0.3 GPa and CTE 100 ppm/K above Tg: est", tg=120.0 + _C, E_above=0.3e9,
          cte_above=100e-6),
    # Mould compound (EMC): Intel Packaging Databook (2000) Table 5-1: 11.7 GPa below Tg, about a
    # tenth above; alpha1 < 23, alpha2 < 80 ppm/K. We take alpha1 15, alpha2 60 ppm/K and 1.2 GPa
    # above Tg inside those bounds, and Tg 150 degC (est: EMC datasheets list 130-175 degC).
    _mech("mold", 11.7e9, 0.30, 15e-6, "Intel Packaging Databook (2000) Table 5-1 (E 11.7 GPa below Tg, ~0.1x "
          "above; alpha1 < 23, alpha2 < 80 ppm/K) via " + _P_MECH + "; alpha1 15, alpha2 60 ppm/K, E above Tg "
          "1.2 GPa, Tg 150 degC and nu 0.30: est within those bounds", tg=150.0 + _C, E_above=1.2e9,
          cte_above=60e-6),
    _mech("tim_polymer", 5e9, 0.35, 25e-6, "ThermoMechSim3D materials table (generic polymer TIM), via " + _P_MECH),
    # Air (voids beside interposers and dies): not a property of air but a numerical placeholder,
    # 1 MPa (1e-4 of underfill) so that empty space carries no load and the elastic problem stays
    # well posed; CTE 0.
    _mech("air", 1e6, 0.0, 0.0, "numerical placeholder for empty space (1 MPa, CTE 0): carries no load; "
                                "not a material property"),
    # Organic substrate (glass-epoxy core with build-up): in plane 25 GPa and 15 ppm/K (laminate
    # maker's general-properties sheet (2016): 19-35 GPa, 8-16 ppm/K; parameters.md's scale check
    # uses 25 GPa, 15 ppm/K); through the thickness 10 GPa (est), alpha_z 45 ppm/K (sheet: alpha1
    # 22-65 ppm/K); nu 0.2 (sheet ~0.2); G from sqrt(Ei Ej)/(2(1+nu)). Tg (133-270 degC on the sheet)
    # is not modelled: high-Tg cores stay glassy to reflow (est).
    _mech("organic_substrate", (25e9, 25e9, 10e9), 0.2, (15e-6, 15e-6, 45e-6),
          "laminate maker's general-properties sheet (2016) via " + _P_MECH + " (in plane 19-35 GPa, 8-16 ppm/K; "
          "z alpha1 22-65 ppm/K; nu ~0.2); Ez 10 GPa est; Tg not modelled (est)"),
    # FR-4 board laminate (warpage with support = "board"): the orthotropic glass-epoxy laminate of
    # the Ansys Mechanical help, "PCB thermal-structural material properties" (laminate at 22 degC):
    # Ex = Ey 25 GPa, Ez 8 GPa, nu_xy 0.18, nu_yz = nu_xz 0.3, G_xy 6 GPa, G_yz = G_xz 3.5 GPa,
    # CTE 15 / 15 / 60 ppm/K; the FR-4 handbook values (E 24 / 21 GPa warp / fill, CTE 14 / 12 / 70
    # ppm/K, nu 0.14 / 0.12: Wikipedia "FR-4" property table) agree. Copper planes stiffen a real
    # board in plane: override with your board's stack-up.
    _mech("pcb", (25e9, 25e9, 8e9), (0.18, 0.3, 0.3), (15e-6, 15e-6, 60e-6),
          "Ansys Mechanical help, PCB thermal-structural material properties (FR-4 laminate, 22 degC): E 25/25/8 GPa, "
          "nu 0.18/0.3/0.3, G 6/3.5/3.5 GPa, CTE 15/15/60 ppm/K; FR-4 handbook values (Wikipedia 'FR-4': E 24/21 GPa, "
          "CTE 14/12/70 ppm/K) agree; laminate without copper planes", G=(6e9, 3.5e9, 3.5e9)),
]})
