"""Error mapping: each error's HTTP status, queue disposition and JSON body."""

import pytest

from shared.errors import (
    AdobeAuthenticationFailed,
    AdobeErrorInfo,
    AdobeRejected,
    ConfigurationError,
    ConnectionBeingCreated,
    ConnectionNotFound,
    ConnectorError,
    DependencyUnavailable,
    InvalidJson,
    InvalidRequest,
    PayloadTooLarge,
    RecordUnreadable,
    SecretNotFound,
    SecretProblem,
)
from shared.sensitive import Secret

ADOBE = AdobeErrorInfo(status=400, code="1415-400", request_id="req-1")


@pytest.mark.parametrize(
    ("error", "status", "code", "permanent", "retry_after"),
    [
        (InvalidJson("x"), 400, "InvalidJson", True, None),
        (InvalidRequest("x", field="namespace"), 400, "InvalidRequest", True, None),
        (PayloadTooLarge("x"), 413, "PayloadTooLarge", True, None),
        (ConnectionNotFound("x"), 404, "ConnectionNotFound", True, None),
        (ConnectionBeingCreated("x", retry_after=7), 409, "ConnectionBeingCreated", False, 7),
        (SecretNotFound("x", secret_name="s"), 422, "SecretNotFound", True, None),
        (SecretProblem("x", secret_name="s"), 422, "SecretInvalid", True, None),
        (ConfigurationError("x", setting="KEY_VAULT_URL"), 500, "ConfigurationError", False, None),
        (RecordUnreadable("x", table="T", partition_key="prod", row_key="ns|"), 500, "RecordUnreadable", False, None),
        (AdobeRejected("x", adobe=ADOBE), 502, "AdobeRequestRejected", True, None),
        (AdobeAuthenticationFailed("x", adobe=ADOBE), 502, "AdobeAuthenticationFailed", True, None),
        (DependencyUnavailable("x", dependency="Adobe", retry_after=12), 503, "DependencyUnavailable", False, 12),
    ],
)
def test_mapping(error: ConnectorError, status: int, code: str, permanent: bool, retry_after: int | None) -> None:
    assert error.http_status == status
    assert error.code == code
    assert error.permanent is permanent
    assert error.retry_after == retry_after
    body = error.to_body()["error"]
    assert body["code"] == code and body["message"] == "x"


def test_adobe_details_in_body() -> None:
    body = AdobeRejected("refused", adobe=ADOBE).to_body()
    assert body["error"]["adobe"] == {"status": 400, "code": "1415-400", "requestId": "req-1"}


def test_record_unreadable_names_the_row() -> None:
    body = RecordUnreadable("x", table="T", partition_key="prod", row_key="ns|").to_body()
    assert body["error"]["record"] == {"table": "T", "partitionKey": "prod", "rowKey": "ns|"}


def test_retry_after_is_at_least_one_second() -> None:
    assert ConnectionBeingCreated("x", retry_after=0).retry_after == 1


def test_secret_is_redacted_everywhere() -> None:
    secret = Secret("hunter2-Vq9xK3")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert "hunter2" not in f"{secret}"
    assert "hunter2" not in "%s %r" % (secret, secret)  # noqa: UP031
    assert "hunter2" not in repr({"k": secret})
    assert secret.reveal() == "hunter2-Vq9xK3"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)
