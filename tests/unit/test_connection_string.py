"""Event Hubs SAS connection-string and AAD secret parsing; no secret value in any error."""

import pytest

from shared.errors import SecretProblem
from shared.eventhubs import parse_aad_secret, parse_connection_string

KEY = "q8Yb7bqh+0tV1lLzjyf9dW0Bq6Cj3xgYtD9F0k2vR1s="


def parse(value: str, namespace: str = "contoso-telemetry"):
    return parse_connection_string(value, secret_name="eventhubs-sas-x", expected_namespace=namespace)


def test_portal_connection_string() -> None:
    sas = parse(
        f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;"
        f"SharedAccessKey={KEY}"
    )
    assert sas.namespace == "contoso-telemetry"
    assert sas.key_name == "RootManageSharedAccessKey"
    assert sas.key.reveal() == KEY  # the trailing '=' survives: split on the first '=' only
    assert sas.entity_path is None


def test_entity_path_case_and_spacing() -> None:
    sas = parse(
        f" endpoint=sb://Contoso-Telemetry.servicebus.windows.net/ ; sharedaccesskeyname=listen;"
        f"SharedAccessKey={KEY};EntityPath=Clicks;"
    )
    assert sas.entity_path == "clicks"
    assert sas.key_name == "listen"


def test_key_with_double_padding() -> None:
    key = "abcd/efgh+ijkl=="
    sas = parse(f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey={key}")
    assert sas.key.reveal() == key


def test_sovereign_cloud_endpoint() -> None:
    sas = parse(
        f"Endpoint=sb://contoso-telemetry.servicebus.chinacloudapi.cn/;SharedAccessKeyName=r;SharedAccessKey={KEY}"
    )
    assert sas.namespace == "contoso-telemetry"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (
            f"Endpoint=sb://other-namespace.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey={KEY}",
            "other-namespace",
        ),
        (
            "Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig=SIGVALUE&se=1&skn=r",
            "SharedAccessSignature",
        ),
        (f"SharedAccessKeyName=r;SharedAccessKey={KEY}", "Endpoint is missing"),
        (f"Endpoint=https://example.com/;SharedAccessKeyName=r;SharedAccessKey={KEY}", "servicebus"),
        ("Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=r", "SharedAccessKey is missing"),
        (f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKey={KEY}", "SharedAccessKeyName"),
        (
            f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey={KEY};EntityPath=-bad",
            "EntityPath",
        ),
        ("just some text", "no '='"),
        ("", "Endpoint"),
    ],
)
def test_unusable_strings_are_422_without_the_value(value: str, reason: str) -> None:
    with pytest.raises(SecretProblem) as caught:
        parse(value)
    err = caught.value
    assert err.http_status == 422 and err.code == "SecretInvalid"
    assert reason in err.message
    assert "eventhubs-sas-x" in err.message
    assert KEY not in err.message and "SIGVALUE" not in err.message
    assert KEY not in str(err.to_body())


def test_parsed_credential_repr_hides_the_key() -> None:
    sas = parse(f"Endpoint=sb://contoso-telemetry.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey={KEY}")
    assert KEY not in repr(sas) and KEY not in str(sas)


def test_aad_secret() -> None:
    aad = parse_aad_secret('{"tenantId": "t", "clientId": "c", "clientSecret": "s3cr3t-value-of-aad"}', secret_name="n")
    assert (aad.tenant_id, aad.client_id, aad.client_secret.reveal()) == ("t", "c", "s3cr3t-value-of-aad")
    assert "s3cr3t-value" not in repr(aad)


@pytest.mark.parametrize(
    "value",
    ["not json", "[]", '{"tenantId": "t", "clientId": "c"}', '{"tenantId": "t", "clientId": "c", "clientSecret": 5}'],
)
def test_bad_aad_secret(value: str) -> None:
    with pytest.raises(SecretProblem) as caught:
        parse_aad_secret(value, secret_name="eventhubs-aad-x")
    assert "eventhubs-aad-x" in caught.value.message
