"""Notes a namespace's Azure resource id on its connection records (health reads hub traffic with it).

Resource Graph (reconcile) and Event Grid (namespace events) show the id; whoever sees it calls
:func:`note_resource_id`. A conditional replace: a record changed meanwhile is left as it is (the
next listing or event notes it again).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from .models import ConnectionRecord
from .records import RecordStore, WriteConflict

NAMESPACE_RESOURCE_ID: Final = re.compile(
    r"/subscriptions/[0-9A-Fa-f-]{36}/resourceGroups/[-\w._()]{1,90}/providers/Microsoft\.EventHub/namespaces/[A-Za-z0-9-]{1,50}",
    re.IGNORECASE,
)


def namespace_resource_id(value: str) -> str | None:
    """The namespace's resource id from an id (or an event subject under it), or None."""
    match = NAMESPACE_RESOURCE_ID.match(value.strip())
    return match.group(0) if match else None


def note_resource_id(records: RecordStore[ConnectionRecord], sandbox: str, namespace: str, resource_id: str) -> int:
    """Note the id on every connection record of the namespace in the sandbox that lacks it (or holds
    another); returns how many records were written."""
    checked = namespace_resource_id(resource_id)
    if checked is None or not checked.lower().endswith("/" + namespace.lower()):
        return 0
    written = 0
    for record in list(records.list(sandbox=sandbox, namespace=namespace.lower())):
        if record.resource_id == checked:
            continue
        stored = records.get(record.key)
        if stored is None or stored.record.resource_id == checked:
            continue
        try:
            records.replace(replace(stored.record, resource_id=checked), stored.etag)
            written += 1
        except WriteConflict:
            continue
    return written
