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
