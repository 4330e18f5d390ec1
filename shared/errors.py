"""The error hierarchy. Each error knows its code, its HTTP status and whether a retry can help.

The HTTP mapping is `ConnectorError.http_status`; the queue/Event Grid mapping is
`ConnectorError.permanent`. Every message passes the scrubber when the error is made, so no
error message ever contains a fragment of a secret value, whatever a service quoted back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .sensitive import scrub


class ConnectorError(Exception):
    """Base of every error the service reports to a caller."""

    http_status = 500
    code = "InternalError"
    #: True when retrying the same input cannot help (queue: record and return).
    permanent = False
    #: A create may have reached Adobe before this failure: look it up first next time, and verify.
    outcome_unknown = False

    def __init__(self, message: str, *, code: str | None = None) -> None:
        message = scrub(message)
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    @property
    def retry_after(self) -> int | None:
        """Seconds a caller should wait before retrying, when the error says so."""
        return None

    def details(self) -> dict[str, Any]:
        """Extra fields of the JSON error body beside `code` and `message`."""
        return {}

    def to_body(self) -> dict[str, Any]:
        """The contract's JSON error shape."""
        return {"error": {"code": self.code, "message": self.message, **self.details()}}


class InvalidRequest(ConnectorError):
    """The request itself is wrong: 400 naming the field."""

    http_status = 400
    code = "InvalidRequest"
    permanent = True

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field} if self.field is not None else {}


class InvalidJson(InvalidRequest):
    """The body is not JSON (or not a JSON object)."""

    code = "InvalidJson"


class PayloadTooLarge(InvalidRequest):
    """The body exceeds the size limit."""

    http_status = 413
    code = "PayloadTooLarge"


class SignatureInvalid(ConnectorError):
    """An Adobe I/O Events delivery whose signature or recipient does not check out: 401, nothing changes."""

    http_status = 401
    code = "SignatureInvalid"
    permanent = True


class ConnectionNotFound(ConnectorError):
    """No record for the requested connection."""

    http_status = 404
    code = "ConnectionNotFound"
    permanent = True


class DataflowNotFound(ConnectionNotFound):
    """No record for the requested dataflow."""

    code = "DataflowNotFound"


class InputNotUsable(ConnectorError):
    """The request is valid but Adobe cannot use what it names (dataset, event hub): 422."""

    http_status = 422
    code = "InputNotUsable"
    permanent = True


class DatasetNotFound(InputNotUsable):
    """The dataset does not exist in the sandbox (or has no schema to write with)."""

    code = "DatasetNotFound"


class EventHubNotFound(InputNotUsable):
    """The event hub is not in the base connection's explore listing."""

    code = "EventHubNotFound"


class ConsumerGroupInUse(ConnectorError):
    """Another of the app's flows already reads the event hub with this consumer group: 409."""

    http_status = 409
    code = "ConsumerGroupInUse"
    permanent = True


class ConnectionBeingCreated(ConnectorError):
    """Another invocation holds a live claim on the same connection."""

    http_status = 409
    code = "ConnectionBeingCreated"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self._retry_after = max(1, retry_after)

    @property
    def retry_after(self) -> int | None:
        return self._retry_after


class SecretProblem(ConnectorError):
    """The namespace's secret is missing, malformed or for another namespace: 422."""

    http_status = 422
    code = "SecretInvalid"
    permanent = True

    def __init__(self, message: str, *, secret_name: str, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.secret_name = secret_name

    def details(self) -> dict[str, Any]:
        return {"secret": self.secret_name}


class SecretNotFound(SecretProblem):
    """The namespace's secret does not exist in Key Vault."""

    code = "SecretNotFound"


class ConfigurationError(ConnectorError):
    """The deployment is misconfigured: 500 naming the setting (or secret, or vault)."""

    http_status = 500
    code = "ConfigurationError"
    permanent = False  # an operator fixes the setting, then the platform's redelivery succeeds

    def __init__(self, message: str, *, setting: str) -> None:
        super().__init__(message)
        self.setting = setting

    def details(self) -> dict[str, Any]:
        return {"setting": self.setting}


class RecordUnreadable(ConnectorError):
    """A stored record does not decode (a hand-edited state, a missing field, a bad date): 500 naming the row.

    Listings skip such a row (and log it); an operation on that very identity answers this error until an
    operator fixes or deletes the row, so queue and Event Grid invocations raise for redelivery.
    """

    http_status = 500
    code = "RecordUnreadable"
    permanent = False  # an operator fixes the row, then the platform's redelivery succeeds

    def __init__(self, message: str, *, table: str, partition_key: str, row_key: str) -> None:
        super().__init__(message)
        self.table, self.partition_key, self.row_key = table, partition_key, row_key

    def details(self) -> dict[str, Any]:
        return {"record": {"table": self.table, "partitionKey": self.partition_key, "rowKey": self.row_key}}


@dataclass(frozen=True)
class AdobeErrorInfo:
    """What Adobe said about a refused call: HTTP status, Adobe's error code, request id."""

    status: int
    code: str | None
    request_id: str | None

    def to_body(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "requestId": self.request_id}


class AdobeRejected(ConnectorError):
    """Adobe refused the request (a 4xx other than 429): 502 with Adobe's code and request id."""

    http_status = 502
    code = "AdobeRequestRejected"
    permanent = True

    def __init__(self, message: str, *, adobe: AdobeErrorInfo, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.adobe = adobe

    def details(self) -> dict[str, Any]:
        return {"adobe": self.adobe.to_body()}


class AdobeAuthenticationFailed(AdobeRejected):
    """IMS refused the OAuth client (bad client id or secret)."""

    code = "AdobeAuthenticationFailed"


class DependencyUnavailable(ConnectorError):
    """Adobe, Key Vault or storage is unavailable after retries: 503 with Retry-After."""

    http_status = 503
    code = "DependencyUnavailable"

    def __init__(self, message: str, *, dependency: str, retry_after: int = 30) -> None:
        super().__init__(message)
        self.dependency = dependency
        self._retry_after = max(1, retry_after)

    @property
    def retry_after(self) -> int | None:
        return self._retry_after

    def details(self) -> dict[str, Any]:
        return {"dependency": self.dependency}


def retryable(code: str) -> bool | None:
    """Whether a retry can help a failure recorded with `code` (a lastError's): not `permanent` for the error
    class of that code; None for a code no class has."""
    classes: list[type[ConnectorError]] = [ConnectorError]
    while classes:
        error_class = classes.pop()
        if error_class.code == code:
            return not error_class.permanent
        classes.extend(error_class.__subclasses__())
    return None


def is_tls_failure(err: BaseException) -> bool:
    """Whether a failure (or anything in its chain) is a TLS certificate that could not be verified."""
    import ssl

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(current):
            return True
        inner = getattr(current, "inner_exception", None)
        current = inner if isinstance(inner, BaseException) else (current.__cause__ or current.__context__)
    return False
