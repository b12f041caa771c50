"""Ready-made scenarios, each built minute by minute so a route of N segments repeats the pattern.

``demo`` is the story the analyzer is made for: the driver marks a Set press with the blinkers (left
before, right after), twice a minute, while driving through the 55-56 mph band; brake taps disengage,
a Resume outside the marker windows re-engages. The other presets each isolate one situation the
analyzer must get right.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jupyter_cts.errors import ValidationError
from jupyter_cts.synth.scenario import Press, Scenario, Span

MINUTE = 60.0

# (t_s, mph) within one minute; the first minute starts from standstill, later ones carry on at 50 mph
DEMO_PROFILE = [
    (14.0, 55.5),
    (30.0, 55.5),
    (34.0, 48.0),
    (40.0, 48.0),
    (44.0, 52.0),
    (48.0, 55.8),
    (52.0, 55.8),
    (56.0, 50.0),
    (60.0, 50.0),
]
LOW_PROFILE = [(10.0, 45.0), (30.0, 50.0), (45.0, 50.0), (55.0, 42.0), (60.0, 42.0)]


def _minutes(duration_s: float) -> int:
    return max(1, int(-(-duration_s // MINUTE)))


def _profile(minute: int, points: list[tuple[float, float]], start_mph: float) -> list[tuple[float, float]]:
    o = minute * MINUTE
    head = [(o, 0.0), (o + 8.0, start_mph)] if minute == 0 else [(o + 8.0, start_mph)]
    return head + [(o + t, v) for t, v in points]


def _demo_events(o: float, last: bool) -> dict[str, list]:
    return {
        "left_blinker": [Span(start_s=o + 10.0, end_s=o + 11.5), Span(start_s=o + 40.0, end_s=o + 41.5)],
        "set_presses": [Press(t_s=o + 15.0, duration_s=0.3), Press(t_s=o + 43.0, duration_s=0.25)],
        "right_blinker": [Span(start_s=o + 17.0, end_s=o + 18.5), Span(start_s=o + 45.0, end_s=o + 46.5)],
        "brake_presses": [Press(t_s=o + 31.0, duration_s=0.5), Press(t_s=o + 50.0, duration_s=0.4)],
        # the second Resume straddles the boundary into the next segment
        "resume_presses": [Press(t_s=o + 52.0, duration_s=0.35)]
        + ([] if last else [Press(t_s=o + 59.9, duration_s=0.3)]),
    }


def _starts_before(item: Any, duration_s: float) -> bool:
    """A drive shorter than the pattern keeps only the events that begin inside it."""
    if isinstance(item, Press):
        return item.t_s < duration_s
    if isinstance(item, Span):
        return item.start_s < duration_s
    return True


def _build(
    name: str, duration_s: float, seed: int, per_minute: Callable[[int, bool], dict], **fixed
) -> Scenario:
    n = _minutes(duration_s)
    merged: dict[str, Any] = {}
    for m in range(n):
        for key, items in per_minute(m, m == n - 1).items():
            merged.setdefault(key, []).extend(i for i in items if _starts_before(i, duration_s))
    return Scenario(name=name, duration_s=duration_s, seed=seed, **merged, **fixed)


def demo(duration_s: float = MINUTE, seed: int = 0, **overrides: Any) -> Scenario:
    def minute(m: int, last: bool) -> dict:
        return {
            "speed_profile": _profile(m, DEMO_PROFILE, 45.0 if m == 0 else 50.0),
            **_demo_events(m * MINUTE, last),
        }

    return _build("demo", duration_s, seed, minute, main_presses=[Press(t_s=2.0)], **overrides)


def no_presses(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    def minute(m: int, last: bool) -> dict:
        return {"speed_profile": _profile(m, DEMO_PROFILE, 45.0 if m == 0 else 50.0)}

    return _build("no_presses", duration_s, seed, minute, main_presses=[Press(t_s=2.0)])


def brake_disengage(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    def minute(m: int, last: bool) -> dict:
        o = m * MINUTE
        return {
            "speed_profile": _profile(m, DEMO_PROFILE, 45.0 if m == 0 else 50.0),
            "left_blinker": [Span(start_s=o + 12.0, end_s=o + 13.5)],
            "set_presses": [Press(t_s=o + 15.0, duration_s=0.3)],
            "right_blinker": [Span(start_s=o + 17.0, end_s=o + 18.5)],
            "brake_presses": [Press(t_s=o + 25.0, duration_s=0.6)],
        }

    return _build("brake_disengage", duration_s, seed, minute, main_presses=[Press(t_s=2.0)])


def unclosed_marker(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    """The demo, plus a left blinker near the end that no right blinker closes before the log ends."""

    def minute(m: int, last: bool) -> dict:
        events = {
            "speed_profile": _profile(m, DEMO_PROFILE, 45.0 if m == 0 else 50.0),
            **_demo_events(m * MINUTE, last),
        }
        if last:
            events["left_blinker"] = [
                *events["left_blinker"],
                Span(start_s=m * MINUTE + 54.0, end_s=m * MINUTE + 55.5),
            ]
        return events

    return _build("unclosed_marker", duration_s, seed, minute, main_presses=[Press(t_s=2.0)])


def never_in_band(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    """Tops out at 50 mph: no target window, but presses, engagement and markers all happen."""

    def minute(m: int, last: bool) -> dict:
        o = m * MINUTE
        return {
            "speed_profile": _profile(m, LOW_PROFILE, 35.0 if m == 0 else 42.0),
            "left_blinker": [Span(start_s=o + 12.0, end_s=o + 13.5)],
            "set_presses": [Press(t_s=o + 15.0, duration_s=0.3)],
            "right_blinker": [Span(start_s=o + 17.0, end_s=o + 18.5)],
            "brake_presses": [Press(t_s=o + 35.0, duration_s=0.5)],
            "resume_presses": [Press(t_s=o + 40.0, duration_s=0.3)],
        }

    return _build("never_in_band", duration_s, seed, minute, main_presses=[Press(t_s=2.0)])


def kph_only(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    """The demo on a car whose dash shows km/h: set speeds are km/h, wheel speeds are km/h as always."""
    return demo(duration_s, seed).model_copy(update={"name": "kph_only", "units": "kph"})


def toyota(duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    """A non-Subaru log: Toyota fingerprint and Toyota frames, no Subaru message anywhere."""
    return demo(duration_s, seed).model_copy(
        update={
            "name": "toyota",
            "car_fingerprint": "TOYOTA_COROLLA",
            "brand": "toyota",
            "noise_addresses": 45,
        }
    )


PRESETS: dict[str, Callable[..., Scenario]] = {
    "demo": demo,
    "no_presses": no_presses,
    "brake_disengage": brake_disengage,
    "unclosed_marker": unclosed_marker,
    "never_in_band": never_in_band,
    "kph_only": kph_only,
    "toyota": toyota,
}


def preset(name: str, duration_s: float = MINUTE, seed: int = 0) -> Scenario:
    """A preset scenario by name, ``duration_s`` long (the one-minute pattern repeats)."""
    if name not in PRESETS:
        raise ValidationError(
            f"unknown scenario {name!r}; choose one of {', '.join(PRESETS)}",
            [{"loc": ["scenario"], "msg": f"unknown scenario {name!r}", "type": "value_error"}],
        )
    return PRESETS[name](duration_s=duration_s, seed=seed)
