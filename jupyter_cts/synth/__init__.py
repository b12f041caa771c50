"""Generated Subaru drives with known ground truth, for tests, demos and benchmarks.

``write_route(out_dir, preset("demo"), segments=3)`` writes a route a comma device could have
recorded (rlog per one-minute segment, real cereal events, frames packed from opendbc's Subaru DBC
with valid counters and checksums) and a ``truth.json`` saying what was planted where.
"""

from jupyter_cts.synth.presets import PRESETS, preset
from jupyter_cts.synth.scenario import Press, Scenario, Span
from jupyter_cts.synth.truth import marker_windows, target_windows
from jupyter_cts.synth.writer import (
    DEFAULT_ROUTE,
    Generated,
    WrittenRoute,
    WrittenSegment,
    generate,
    write_route,
    write_segment,
)

__all__ = [
    "DEFAULT_ROUTE",
    "PRESETS",
    "Generated",
    "Press",
    "Scenario",
    "Span",
    "WrittenRoute",
    "WrittenSegment",
    "generate",
    "marker_windows",
    "preset",
    "target_windows",
    "write_route",
    "write_segment",
]
