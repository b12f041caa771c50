"""The window of interest: rlog-to-csv labels its rows with it, can-bitwatch reads that label back.

Both tools declare it with these types so its bounds, titles and units cannot drift apart; each
keeps its own default and description (what an empty value means differs).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

WindowStart = Annotated[float | None, Field(ge=0, title="Window start", json_schema_extra={"unit": "s"})]
WindowDuration = Annotated[
    float | None, Field(gt=0, le=86400, title="Window length", json_schema_extra={"unit": "s"})
]
