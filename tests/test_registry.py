"""Tool discovery: a third-party package adds tools through entry points; broken ones are reported.

The "acme" package below is written the way pip would leave an installed package: a module and a
``*.dist-info`` folder with ``entry_points.txt``, on ``sys.path``. Nothing is installed.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import RunRequest, RunStatus  # noqa: E402
from jupyter_cts.errors import UnknownToolError  # noqa: E402
from jupyter_cts.registry import ToolRegistry  # noqa: E402
from jupyter_cts.tools.base import Tool  # noqa: E402

make_engine = testing.make_engine  # fixture

GROUP = "acme.tools"

GOOD = """
from pydantic import Field
from jupyter_cts.tools.base import InputKind, Tool, ToolParams

class BandParams(ToolParams):
    low: float = Field(10.0, description="Lower bound (mph).")
    high: float = Field(20.0, description="Upper bound (mph).")

class SpeedBand(Tool):
    id = "acme-speed-band"
    name = "Speed band"
    description = "Says whether a speed band is sensible."
    category = "acme"
    version = "2.1.0"
    input_kind = InputKind.NONE
    Params = BandParams

    def run(self, inputs, params, ctx):
        ctx.progress(50, "checking the band")
        return {"width": params.high - params.low}
"""

BROKEN = """
raise RuntimeError("acme licence server unreachable")
"""

BAD_SCHEMA = '''
from pydantic import ConfigDict
from jupyter_cts.tools.base import Tool, ToolParams

class Connection:
    """Not something a JSON form can fill in."""

class LockParams(ToolParams):
    model_config = ConfigDict(arbitrary_types_allowed=True)
    connection: Connection | None = None

class BadSchema(Tool):
    id = "acme-bad-schema"
    name = "Bad schema"
    description = "Its parameters cannot be described in JSON Schema."
    Params = LockParams

    def run(self, inputs, params, ctx):
        return {}
'''

NOT_A_TOOL = """
class Helper:
    id = "acme-helper"
"""

ENTRY_POINTS = f"""
[{GROUP}]
acme-speed-band = acme_tools.good:SpeedBand
acme-broken = acme_tools.broken:Broken
acme-bad-schema = acme_tools.bad_schema:BadSchema
acme-helper = acme_tools.not_a_tool:Helper
acme-missing = acme_tools.good:DoesNotExist
acme-duplicate = acme_tools.good:SpeedBand
"""


@pytest.fixture(scope="module")
def acme_package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An installed-looking plugin package: one good tool and four kinds of broken plugin."""
    root = tmp_path_factory.mktemp("site")
    package = root / "acme_tools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in [
        ("good", GOOD),
        ("broken", BROKEN),
        ("bad_schema", BAD_SCHEMA),
        ("not_a_tool", NOT_A_TOOL),
    ]:
        (package / f"{name}.py").write_text(textwrap.dedent(source))
    dist = root / "acme_tools-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tools\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


def test_a_plugin_package_adds_its_tool_and_broken_plugins_are_reported(acme_package: Path) -> None:
    registry = ToolRegistry(group=GROUP)
    registry.discover_tools()

    assert [t.id for t in registry.tools()] == ["acme-speed-band"]
    errors = {e.entry_point.split(" = ")[0]: e.error for e in registry.errors}
    assert set(errors) == {"acme-broken", "acme-bad-schema", "acme-helper", "acme-missing", "acme-duplicate"}
    assert "RuntimeError: acme licence server unreachable" in errors["acme-broken"]
    assert "invalid parameter schema" in errors["acme-bad-schema"]
    assert "not a subclass" in errors["acme-helper"]
    assert "DoesNotExist" in errors["acme-missing"]
    assert "already registered" in errors["acme-duplicate"]


def test_capabilities_describe_each_tool_with_its_json_schema(acme_package: Path) -> None:
    caps = ToolRegistry(group=GROUP).capabilities()

    (tool,) = caps.tools
    assert (tool.id, tool.name, tool.category, tool.version, tool.input) == (
        "acme-speed-band",
        "Speed band",
        "acme",
        "2.1.0",
        "none",
    )
    props = tool.params_schema["properties"]
    assert props["low"]["default"] == 10.0 and props["low"]["description"] == "Lower bound (mph)."
    assert props["high"]["type"] == "number"
    assert len(caps.errors) == 5
    assert caps.model_dump(mode="json")["errors"][0].keys() == {"entry_point", "error"}


def test_lookups_by_id(acme_package: Path) -> None:
    registry = ToolRegistry(group=GROUP)

    tool = registry.create_tool_instance("acme-speed-band")
    assert isinstance(tool, Tool) and type(tool).__name__ == "SpeedBand"
    with pytest.raises(UnknownToolError, match="acme-nope.*installed tools: acme-speed-band"):
        registry.get_tool("acme-nope")


def test_extra_classes_join_the_entry_point_tools() -> None:
    from cts_test_tools import EchoTool

    registry = ToolRegistry(group="no.such.group", extra=[EchoTool])
    assert [t.id for t in registry.tools()] == ["test-echo"]
    assert registry.errors == []


def test_the_default_group_finds_tools_registered_by_any_package_on_the_path() -> None:
    # tests/plugins is on sys.path, so its dist-info registers the test tools in jupyter_cts.tools.
    ids = {t.id for t in ToolRegistry().tools()}
    assert {"test-echo", "test-steps", "test-misbehave"} <= ids


def test_an_engine_runs_a_plugin_tool_in_its_own_process(acme_package: Path, make_engine) -> None:
    engine = make_engine(registry=ToolRegistry(group=GROUP))

    run = engine.execute_tool(
        RunRequest(tool_id="acme-speed-band", params={"low": "5", "high": 30}), timeout=30
    )

    assert run.status == RunStatus.COMPLETED, run.error
    assert engine.get_result(run.run_id) == {"width": 25.0}
    assert run.params == {"low": 5.0, "high": 30.0}


def test_heavy_modules_a_tool_declares_are_preloaded_with_the_tool_modules() -> None:
    preload = ToolRegistry().preload_modules()
    assert "jupyter_cts.tools.cruise_control" in preload
    assert "matplotlib.backends.backend_agg" in preload, "the analyzer's plot backend is warmed once"
