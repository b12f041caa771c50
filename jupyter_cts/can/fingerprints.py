"""Which DBC decodes a car: the logged ``carParams.carFingerprint`` to an opendbc DBC name.

A small explicit table rather than reading opendbc's ``car/subaru/values.py``: importing it loads
opendbc's car schema (fatal next to cereal's), and parsing Python source as text would break silently.
``tests/test_dbc_decoding.py`` checks this table against opendbc's own mapping in a subprocess, so an
opendbc upgrade that moves a platform shows up as a failing test.
"""

from __future__ import annotations

_GLOBAL = "subaru_global_2017_generated"
_HYBRID = "subaru_global_2020_hybrid_generated"

# opendbc 0.3.x, ``opendbc.car.subaru.values.DBC[platform][Bus.pt]``.
SUBARU_DBCS: dict[str, str] = {
    # global platform (and its gen2 / angle-LKAS variants): one powertrain DBC
    "SUBARU_ASCENT": _GLOBAL,
    "SUBARU_OUTBACK": _GLOBAL,
    "SUBARU_LEGACY": _GLOBAL,
    "SUBARU_IMPREZA": _GLOBAL,
    "SUBARU_IMPREZA_2020": _GLOBAL,
    "SUBARU_FORESTER": _GLOBAL,
    "SUBARU_FORESTER_2022": _GLOBAL,
    "SUBARU_OUTBACK_2023": _GLOBAL,
    "SUBARU_ASCENT_2023": _GLOBAL,
    # hybrids move throttle and transmission to the alt bus: their own DBC
    "SUBARU_CROSSTREK_HYBRID": _HYBRID,
    "SUBARU_FORESTER_HYBRID": _HYBRID,
    # pre-global cars
    "SUBARU_FORESTER_PREGLOBAL": "subaru_forester_2017_generated",
    "SUBARU_LEGACY_PREGLOBAL": "subaru_outback_2015_generated",
    "SUBARU_OUTBACK_PREGLOBAL": "subaru_outback_2015_generated",
    "SUBARU_OUTBACK_PREGLOBAL_2018": "subaru_outback_2019_generated",
}

# Platform names older openpilot versions logged (``opendbc.car.fingerprints.MIGRATION``).
LEGACY_NAMES: dict[str, str] = {
    "SUBARU ASCENT LIMITED 2019": "SUBARU_ASCENT",
    "SUBARU OUTBACK 6TH GEN": "SUBARU_OUTBACK",
    "SUBARU LEGACY 7TH GEN": "SUBARU_LEGACY",
    "SUBARU IMPREZA LIMITED 2019": "SUBARU_IMPREZA",
    "SUBARU IMPREZA SPORT 2020": "SUBARU_IMPREZA_2020",
    "SUBARU CROSSTREK HYBRID 2020": "SUBARU_CROSSTREK_HYBRID",
    "SUBARU FORESTER 2019": "SUBARU_FORESTER",
    "SUBARU FORESTER HYBRID 2020": "SUBARU_FORESTER_HYBRID",
    "SUBARU FORESTER 2017 - 2018": "SUBARU_FORESTER_PREGLOBAL",
    "SUBARU LEGACY 2015 - 2018": "SUBARU_LEGACY_PREGLOBAL",
    "SUBARU OUTBACK 2015 - 2017": "SUBARU_OUTBACK_PREGLOBAL",
    "SUBARU OUTBACK 2018 - 2019": "SUBARU_OUTBACK_PREGLOBAL_2018",
    "SUBARU FORESTER 2022": "SUBARU_FORESTER_2022",
    "SUBARU OUTBACK 7TH GEN": "SUBARU_OUTBACK_2023",
    "SUBARU ASCENT 2023": "SUBARU_ASCENT_2023",
}


def dbc_for_fingerprint(car_fingerprint: str | None) -> str | None:
    """The powertrain DBC name for a logged Subaru fingerprint; None for other makes or unknown cars."""
    if not car_fingerprint:
        return None
    platform = LEGACY_NAMES.get(car_fingerprint, car_fingerprint)
    return SUBARU_DBCS.get(platform)
