"""Flow state and ``POST /flows/{id}/action?op=enable|disable`` (flow-service.yaml; upper case too).

A flow is ``enabled`` when created; Adobe disables a flow that keeps failing, which a test plays
with :meth:`FlowActions.set_state`. The action answers 200 ``{"id", "etag"}`` (flow-service.yaml's
status and CreateFlowResponse); an unknown flow is ``1439-404``, another ``op`` ``1400-400``.
"""

from __future__ import annotations

from devstack.adobe.context import PlatformContext
from devstack.adobe.flowobjects import FLOWS
from devstack.adobe.routing import Call, Route
from devstack.adobe.state import new_etag, now_ms
from devstack.httpbase import Response

__all__ = ["FlowActions"]

_OPS = {"enable": "enabled", "disable": "disabled"}


class FlowActions:
    """The action route and the state knob of flows."""

    def __init__(self, ctx: PlatformContext) -> None:
        self._ctx = ctx

    def set_state(self, flow_id: str, state: str) -> None:
        """Set a flow's ``state`` (``enabled``/``disabled``), as Adobe's auto-disable does."""
        with self._ctx.store.lock:
            found = self._ctx.store.get(FLOWS, flow_id)
            if found is None:
                raise KeyError(flow_id)
            found.data["state"] = state
            found.data["etag"] = new_etag()
            found.data["updatedAt"] = now_ms()

    def routes(self) -> list[Route]:
        return [Route("POST", "/flows/{id}/action", self._action)]

    def _action(self, call: Call) -> Response:
        op = call.query_value("op").lower()
        if op not in _OPS:
            return call.problem(400, "1400-400", "op must be enable or disable")
        with self._ctx.store.lock:
            found = self._ctx.store.get(FLOWS, call.params["id"], call.sandbox)
            if found is None:
                flow_id = call.params["id"]
                return call.problem(404, "1439-404", f"Flow {flow_id} not found", resource_id=flow_id)
            found.data["state"] = _OPS[op]
            found.data["etag"] = new_etag()
            found.data["updatedAt"] = now_ms()
            return Response.json(200, {"id": found.id, "etag": found.data["etag"]})
