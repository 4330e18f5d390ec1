"""Every Event Hubs namespace of the managed subscriptions, from Azure Resource Graph (the real client)."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from .arm import configuration_problem
from .errors import DependencyUnavailable
from .eventhubs import NAMESPACE_PATTERN
from .logs import log
from .retry import CallResult, Deadline, Failure, Retrier

QUERY: Final = (
    "resources | where type =~ 'microsoft.eventhub/namespaces' "
    "| project id, name, subscriptionId, resourceGroup, location"
)
PAGE_SIZE: Final = 1000
MAX_PAGES: Final = 1000


@dataclass(frozen=True, order=True)
class Namespace:
    """One Event Hubs namespace as Resource Graph lists it."""

    name: str
    subscription_id: str
    resource_group: str
    #: Its Azure resource id (as listed; empty when the row had none).
    id: str = ""


@dataclass
class Listing:
    """What the inventory found; `failures` names each subscription it could not list, and why."""

    namespaces: list[Namespace] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.failures

    def complete_for(self, subscription_id: str) -> bool:
        """Whether this subscription was listed completely (every page, nothing left out)."""
        return subscription_id.lower() not in self.failures


class Inventory(Protocol):
    """Where namespaces are listed from."""

    def list(self, subscriptions: Iterable[str], deadline: Deadline) -> Listing:
        """Every namespace of these subscriptions; a failed subscription is in `failures`, never raised."""
        ...


class ResourceGraphInventory:
    """Resource Graph through `azure-mgmt-resourcegraph`: all subscriptions in one query, `$skipToken` pages;
    on a refusal, one query per subscription so one forbidden subscription does not hide the others."""

    def __init__(self, client: Callable[[], Any], retrier: Retrier, *, page_size: int = PAGE_SIZE) -> None:
        self._client = client
        self._retrier = retrier
        self._page_size = page_size
        self.calls = 0

    def list(self, subscriptions: Iterable[str], deadline: Deadline) -> Listing:
        wanted = sorted(set(subscriptions))
        listing = Listing()
        if not wanted:
            return listing
        try:
            listing.namespaces = self._query(wanted, deadline)
            return listing
        except _Refused:
            pass
        except _Partial as err:
            log.warning("Resource Graph listing is partial: %s; nothing is called gone", err.reason)
            return Listing(failures=dict.fromkeys(wanted, f"partial listing: {err.reason}"))
        except DependencyUnavailable as err:
            return Listing(failures=dict.fromkeys(wanted, err.message))
        for subscription in wanted:  # isolate the forbidden one(s)
            try:
                listing.namespaces += self._query([subscription], deadline)
            except _Refused as err:
                listing.failures[subscription] = err.reason
            except _Partial as err:
                listing.failures[subscription] = f"partial listing: {err.reason}"
            except DependencyUnavailable as err:
                listing.failures[subscription] = err.message
        return listing

    def _query(self, subscriptions: builtins.list[str], deadline: Deadline) -> builtins.list[Namespace]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        found: builtins.list[Namespace] = []
        token: str | None = None
        rows, total = 0, None
        for _ in range(MAX_PAGES):
            options = QueryRequestOptions(skip_token=token, top=self._page_size, result_format="objectArray")
            request = QueryRequest(subscriptions=subscriptions, query=QUERY, options=options)
            page = self._retrier.call(
                lambda request=request: self._once(request),  # type: ignore[misc]
                dependency="Azure Resource Graph",
                deadline=deadline,
            )
            data = page.data or []
            rows += len(data)
            total = page.total_records if total is None else total
            if str(getattr(page, "result_truncated", "") or "").lower() == "true":
                raise _Partial("Resource Graph marked its answer truncated (resultTruncated)")
            found += [n for n in (_namespace(row) for row in data) if n is not None]
            token = page.skip_token
            if not token:
                if total is not None and rows != total:
                    raise _Partial(f"Resource Graph answered {rows} row(s) of the {total} it counted (totalRecords)")
                return found
        raise DependencyUnavailable("Azure Resource Graph listed too many pages.", dependency="Azure Resource Graph")

    def _once(self, request: Any) -> tuple[CallResult, Any]:
        from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

        self.calls += 1
        try:
            return CallResult(status=200), self._client().resources(request)
        except (ClientAuthenticationError, ServiceRequestError) as err:  # (before HttpResponseError, its base)
            problem = configuration_problem(err)
            if problem is not None:
                raise problem from None
            return CallResult(failure=Failure.NOT_SENT), None
        except HttpResponseError as err:
            if err.status_code == 403:
                raise _Refused(
                    "the app's identity cannot read it: assign it the Reader role on the subscription"
                ) from None
            if err.status_code in (400, 404):
                raise _Refused(f"Resource Graph refused the query ({err.status_code})") from None
            headers = getattr(err.response, "headers", None) or {}
            retry_after = headers.get("Retry-After")
            return CallResult(status=err.status_code or 500, retry_after=retry_after), None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Partial(Exception):
    """An answer that left rows out: a partial listing, which calls nothing gone."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _namespace(row: Any) -> Namespace | None:
    if not isinstance(row, dict):
        return None
    name, subscription = row.get("name"), row.get("subscriptionId")
    if not isinstance(name, str) or not NAMESPACE_PATTERN.fullmatch(name) or not isinstance(subscription, str):
        log.warning("Resource Graph listed a namespace that is not usable; ignored")
        return None
    resource_id = row.get("id")
    return Namespace(
        name.lower(),
        subscription.lower(),
        str(row.get("resourceGroup") or ""),
        resource_id if isinstance(resource_id, str) else "",
    )
