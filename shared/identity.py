"""Identity by content: which Adobe objects belong to one connection or dataflow (contract "Identity").

Names are labels people choose and reuse, so no lookup, adoption, converge or deletion decides on
a name alone. An `Identity` says which collection an object lives in, the name the app stored with
its claim (used only to narrow a listing and to tell duplicates from hand-made objects), and what
the object must hold to be this identity's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .adobe import EVENT_HUBS_SPEC_ID
from .models import AuthType, ConnectionKey

DATA_LAKE_SPEC_ID: Final = "c604ff05-7f1a-43c0-8e18-33bf874cb11c"
FLOW_SPEC_ID: Final = "d69717ba-71b4-4313-b654-49f9cf126d7a"
#: Auth params only a source's connection has (Event Hubs destinations share the spec id).
SOURCE_AUTH_PARAMS: Final = frozenset({"sasKeyName", "tenantId"})

Content = Mapping[str, Any]


@dataclass(frozen=True)
class Identity:
    """One Adobe object's identity: its collection, the name stored with its claim, and its content."""

    collection: str
    name: str
    matches: Callable[[Content], bool]
    #: `property` filters that keep a listing under any name short (they never decide alone).
    narrow: tuple[tuple[str, str], ...] = ()
    #: An object with this content under another name (made by hand) is still this identity's (adoptable).
    any_name: bool = True


def _dict(value: Any) -> Content:
    return value if isinstance(value, Mapping) else {}


def _lower(value: Any) -> str | None:
    return value.lower() if isinstance(value, str) and value else None


def connection_identity(key: ConnectionKey, name: str) -> Identity:
    """A base connection: the Event Hubs spec, a source's auth, this namespace and (scoped) event hub."""

    def matches(content: Content) -> bool:
        params = _dict(_dict(content.get("auth")).get("params"))
        return (
            _dict(content.get("connectionSpec")).get("id") in (None, EVENT_HUBS_SPEC_ID)
            and bool(SOURCE_AUTH_PARAMS & set(params))
            and _lower(params.get("namespace")) == key.namespace
            and _lower(params.get("eventHubName")) == key.event_hub
        )

    return Identity("connections", name, matches, narrow=(("connectionSpec.id", EVENT_HUBS_SPEC_ID),))


def connection_namespace(content: Content) -> tuple[str, str | None] | None:
    """(namespace, event hub) a listed base connection holds, when it is an Event Hubs source's."""
    params = _dict(_dict(content.get("auth")).get("params"))
    namespace = _lower(params.get("namespace"))
    if not (SOURCE_AUTH_PARAMS & set(params)) or namespace is None:
        return None
    return namespace, _lower(params.get("eventHubName"))


def held_auth_type(content: Content) -> AuthType | None:
    """The kind of auth a listed base connection holds (SAS or AAD); None when its listing does not show one."""
    params = _dict(_dict(content.get("auth")).get("params"))
    if "sasKeyName" in params:
        return AuthType.SAS
    return AuthType.AAD if "tenantId" in params else None


def source_identity(key: ConnectionKey, name: str, *, connection_id: str, consumer_group: str) -> Identity:
    """A source connection: on this base connection, reading this event hub with this consumer group."""

    def matches(content: Content) -> bool:
        params = _dict(content.get("params"))
        group = params.get("consumerGroup")
        return (
            content.get("baseConnectionId") == connection_id
            and _lower(params.get("eventHubName")) == key.event_hub
            and (group is None or group == consumer_group)
        )

    return Identity("sourceConnections", name, matches, narrow=(("baseConnectionId", connection_id),))


def target_identity(name: str, *, dataset_id: str) -> Identity:
    """A target connection: this dataset, under the dataflow's deterministic target name (never a request's)."""

    def matches(content: Content) -> bool:
        return _dict(content.get("params")).get("dataSetId") == dataset_id and content.get("name") == name

    return Identity("targetConnections", name, matches, any_name=False)


def flow_identity(name: str, *, source_id: str, target_id: str) -> Identity:
    """A flow: exactly this source and this target."""

    def matches(content: Content) -> bool:
        return content.get("sourceConnectionIds") == [source_id] and content.get("targetConnectionIds") == [target_id]

    return Identity("flows", name, matches, narrow=(("flowSpec.id", FLOW_SPEC_ID),))
