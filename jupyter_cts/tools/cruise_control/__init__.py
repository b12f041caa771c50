"""cruise-control-analyzer: Subaru cruise control from raw CAN, segment by segment.

``CruiseControlAnalyzer`` is the tool; ``analyze_segment`` / ``combine`` are its map and reduce
halves, usable on their own from a notebook or an executor that fans segments out.
"""

from jupyter_cts.tools.cruise_control.combine import Analysis, combine
from jupyter_cts.tools.cruise_control.params import CruiseControlParams
from jupyter_cts.tools.cruise_control.segment import SegmentPartial, analyze_segment
from jupyter_cts.tools.cruise_control.tool import CruiseControlAnalyzer

__all__ = [
    "Analysis",
    "CruiseControlAnalyzer",
    "CruiseControlParams",
    "SegmentPartial",
    "analyze_segment",
    "combine",
]
