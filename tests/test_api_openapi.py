"""``GET /v1/openapi.json`` describes exactly the API the server has: generated from the route table
and the pydantic models the handlers use, and honest enough that schemathesis, fuzzing a live
``cts-lite`` with it, finds no server error and no answer the document does not describe.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from jupyter_server.utils import url_path_join
from lite_harness import TEST_PLUGINS, running_lite
from schemathesis import GenerationMode
from tornado.web import RequestHandler

from jupyter_cts.engine.models import Run, RunRequest
from jupyter_cts.server.routes import ROUTES


@pytest.fixture
def jp_server_config(tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cts": True}},
        "CTSApp": {"data_dir": str(tmp_path / "cts-data"), "kernel_env": False},
    }


async def test_the_document_lists_every_route_and_verb_the_server_answers(cts_api, jp_base_url, jp_serverapp):
    doc = (await cts_api.get("openapi.json")).json
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": jp_base_url.rstrip("/")}]
    documented = {(path, verb) for path, item in doc["paths"].items() for verb in item}
    served = set()
    for route in ROUTES:
        handler = route.handler
        for verb in ("get", "post", "put", "patch", "delete"):
            if getattr(handler, verb) is not getattr(RequestHandler, verb):
                served.add((route.path, verb))
        # the route is registered under the server's base_url
        pattern = url_path_join(jp_base_url, route.pattern)
        assert any(rule.matcher.regex.pattern.rstrip("$") == pattern for rule in _rules(jp_serverapp)), (
            pattern
        )
    assert documented == served


def _rules(serverapp):
    for host_rule in serverapp.web_app.default_router.rules:
        yield from getattr(host_rule.target, "rules", [])


async def test_schemas_are_the_models_the_handlers_use(cts_api):
    doc = (await cts_api.get("openapi.json")).json
    schemas = doc["components"]["schemas"]
    assert set(schemas["Run"]["properties"]) == set(Run.model_fields)
    assert set(schemas["RunRequest"]["properties"]) == set(RunRequest.model_fields)
    assert schemas["RunStatus"]["enum"] == ["queued", "running", "completed", "failed", "canceled"]
    start = doc["paths"]["/v1/runs"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RunRequest"
    }
    assert set(start["responses"]) >= {"202", "400", "403", "404", "422", "429"}
    logs = doc["paths"]["/v1/runs/{run_id}/logs"]["get"]
    assert {p["name"] for p in logs["parameters"]} == {"run_id", "since", "limit", "stream"}
    assert set(logs["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    assert doc["components"]["securitySchemes"]["token"]["name"] == "Authorization"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    args = ["--CTSApp.max_upload_bytes=65536", "--CTSApp.kernel_env=False"]
    with running_lite(
        tmp_path_factory.mktemp("openapi-lite"), plugins=TEST_PLUGINS, max_concurrent_runs=1, args=args
    ) as server:
        yield server


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzing_the_live_api_finds_no_server_error_and_no_undocumented_answer(live_server, mode):
    schema = schemathesis.openapi.from_url(f"{live_server.url}v1/openapi.json", headers=live_server.headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    documented = {f"{verb.upper()} {route.path}" for route in ROUTES for verb in route.operations}
    # schemathesis leaves out the operation that serves the schema itself
    assert {op.label for op in operations} == documented - {"GET /v1/openapi.json"}
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and not (operation.query or operation.body):
            continue  # only query and body can be invalid: an empty path segment is not a URL

        @settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode, headers=live_server.headers))
        def call_and_check(case):
            response = case.call(base_url=live_server.url.rstrip("/"), timeout=30)
            case.validate_response(response, checks=CHECKS, headers=live_server.headers)

        try:
            call_and_check()
        except Exception as exc:
            exc.add_note(f"operation: {operation.label}")
            raise
