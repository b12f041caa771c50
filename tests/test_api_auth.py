"""Only someone with the server's token (and, with a custom authorizer, the right to the ``cts``
resource) can use the API; everyone else gets 403 JSON saying how to authenticate. The extension
loads cleanly on a server that refuses unauthenticated handlers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from jupyter_server.auth.authorizer import Authorizer
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import JupyterServerAuthWarning

from jupyter_cts.server.routes import ROUTES

TEST_TOOLS = Path(__file__).parent / "plugins"


class ReadOnlyCTS(Authorizer):
    """Lets everyone read the cts resource and nobody change it; records what it was asked."""

    asked: list[tuple[str, str]] = []

    def is_authorized(self, handler, user, action, resource):
        ReadOnlyCTS.asked.append((action, resource))
        return not (resource == "cts" and action != "read")


@pytest.fixture
def read_only_authorizer():
    """Requested by a test to run its server with the ReadOnlyCTS authorizer."""
    ReadOnlyCTS.asked.clear()
    return ReadOnlyCTS


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch, request):
    monkeypatch.syspath_prepend(str(TEST_TOOLS))
    # Only this extension: the terminals extension pytest-jupyter adds has an unauthenticated websocket.
    server = {
        "jpserver_extensions": {"jupyter_cts": True, "jupyter_server_terminals": False},
        "allow_unauthenticated_access": False,
    }
    if "read_only_authorizer" in request.fixturenames:
        server["authorizer_class"] = ReadOnlyCTS
    return {"ServerApp": server, "CTSApp": {"data_dir": str(tmp_path / "cts-data"), "kernel_env": False}}


def every_endpoint():
    """(method, path parts) for each verb of each route, with placeholder path values."""
    for route in ROUTES:
        parts = [re.sub(r"\{\w+\}", "x1", p) for p in route.path.split("/")[2:]]
        for method in route.operations:
            yield method.upper(), parts


async def test_every_endpoint_refuses_a_request_without_a_token(cts_api):
    for method, parts in every_endpoint():
        body = "{}" if method == "POST" else None
        for auth in ("", "token not-the-token"):
            reply = await cts_api.request(method, *parts, body=body, headers={"Authorization": auth})
            assert reply.status == 403, (method, parts, auth, reply.body)
            assert reply.headers["Content-Type"].startswith("application/json")
            assert "token" in reply.json["message"], reply.json


async def test_the_extension_loads_without_auth_warnings_when_unauthenticated_access_is_refused(
    recwarn, caplog, cts_api, jp_serverapp
):
    assert jp_serverapp.allow_unauthenticated_access is False
    assert not [w for w in recwarn if issubclass(w.category, JupyterServerAuthWarning)]
    assert "without @allow_unauthenticated" not in caplog.text
    assert (await cts_api.get("health")).status == 200


async def test_the_auth_warning_check_does_catch_an_undecorated_handler(jp_serverapp):
    """The control for the test above: an extension handler without @authenticated is reported."""

    class Careless(APIHandler):
        async def get(self):
            self.finish("{}")

    with pytest.warns(JupyterServerAuthWarning, match="Careless"):
        jp_serverapp.web_app.add_handlers(".*$", [("/careless", Careless)])


async def test_the_authorizer_decides_on_the_cts_resource(read_only_authorizer, cts_api, tmp_path):
    assert (await cts_api.get("health")).status == 200
    assert ("read", "cts") in ReadOnlyCTS.asked

    refused = await cts_api.post("runs", json_body={"tool_id": "test-echo"})
    assert refused.status == 403
    assert "not authorized" in refused.json["message"]
    assert ("write", "cts") in ReadOnlyCTS.asked

    upload = await cts_api.post("uploads", body=b"x" * 1000)
    assert upload.status == 403
    uploads = tmp_path / "cts-data" / "uploads"
    assert not uploads.exists() or not any(uploads.iterdir()), "a refused upload stored nothing"
    assert (await cts_api.get("runs")).json["total"] == 0
