"""Choosing the auth spec name from Flow Service's connection spec (names change on Adobe's side)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def choose_auth_spec(spec_document: dict[str, Any] | None, params: Iterable[str], documented: str) -> str:
    """The auth spec whose parameters fit `params`, else the documented name.

    A spec fits when every parameter it requires is sent and every parameter sent is one it
    defines. Among fitting specs the documented name wins, then the most specific (most required).
    """
    sent = set(params)
    candidates: list[tuple[int, str]] = []
    for spec in (spec_document or {}).get("authSpec") or []:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            continue
        schema = spec.get("spec")
        if not isinstance(schema, dict):
            continue
        properties = set((schema.get("properties") or {}).keys())
        required = {r for r in schema.get("required") or [] if isinstance(r, str)}
        if required <= sent <= properties:
            candidates.append((len(required), spec["name"]))
    if not candidates:
        return documented
    if any(name == documented for _, name in candidates):
        return documented
    return max(candidates)[1]
