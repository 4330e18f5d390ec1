"""Settings: defaults, and a bad or missing setting named in a 500 ConfigurationError."""

from pathlib import Path

import pytest

from shared.errors import ConfigurationError
from shared.settings import Settings

BASE = {
    "KEY_VAULT_URL": "https://contoso-kv.vault.azure.net/",
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
}


def test_defaults_from_the_contract() -> None:
    settings = Settings.from_env(BASE)
    assert settings.key_vault_url == "https://contoso-kv.vault.azure.net"
    assert settings.default_sandbox == "prod"
    assert settings.ims_url == "https://ims-na1.adobelogin.com"
    assert settings.platform_url == "https://platform.adobe.io"
    assert settings.scopes == "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session"
    assert (settings.client_id_secret, settings.client_secret_secret, settings.org_id_secret) == (
        "adobe-client-id",
        "adobe-client-secret",
        "adobe-org-id",
    )
    assert settings.sas_secret_name("contoso-ns") == "eventhubs-sas-contoso-ns"
    assert settings.aad_secret_name("contoso-ns") == "eventhubs-aad-contoso-ns"
    assert settings.connections_table == "EventHubsConnections"
    assert settings.events_queue is None
    assert settings.secret_cache_seconds == 300
    assert settings.delete_connection_on_namespace_delete is False
    assert settings.use_managed_identity is False
    assert settings.key_vault_is_emulator is False


def test_storage_connection_string_is_redacted_in_repr() -> None:
    settings = Settings.from_env({**BASE, "AzureWebJobsStorage": "AccountName=a;AccountKey=SECRETKEY=="})
    assert "SECRETKEY" not in repr(settings)


def test_identity_based_storage() -> None:
    env = {"KEY_VAULT_URL": BASE["KEY_VAULT_URL"], "AzureWebJobsStorage__accountName": "contosofuncs"}
    storage = Settings.from_env(env).storage
    assert storage.connection_string is None
    assert storage.table_endpoint == "https://contosofuncs.table.core.windows.net"
    assert storage.queue_endpoint == "https://contosofuncs.queue.core.windows.net"


def test_loopback_urls_may_use_http_and_vault_is_emulator() -> None:
    settings = Settings.from_env(
        {
            **BASE,
            "KEY_VAULT_URL": "https://127.0.0.1:8443/",
            "ADOBE_IMS_URL": "http://localhost:9000",
            "ADOBE_PLATFORM_URL": "http://[::1]:9001",
            "IDENTITY_ENDPOINT": "http://127.0.0.1:9002/msi/token",
            "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "True",
        }
    )
    assert settings.key_vault_is_emulator and settings.use_managed_identity
    assert settings.delete_connection_on_namespace_delete is True


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"AzureWebJobsStorage": "UseDevelopmentStorage=true"}, "KEY_VAULT_URL"),
        ({"KEY_VAULT_URL": "https://kv.vault.azure.net"}, "AzureWebJobsStorage"),
        ({**BASE, "KEY_VAULT_URL": "http://kv.vault.azure.net"}, "KEY_VAULT_URL"),
        ({**BASE, "KEY_VAULT_URL": "kv.vault.azure.net"}, "KEY_VAULT_URL"),
        ({**BASE, "ADOBE_IMS_URL": "http://ims-na1.adobelogin.com"}, "ADOBE_IMS_URL"),
        ({**BASE, "ADOBE_PLATFORM_URL": "ftp://platform.adobe.io"}, "ADOBE_PLATFORM_URL"),
        ({**BASE, "ADOBE_SANDBOX_NAME": "Prod"}, "ADOBE_SANDBOX_NAME"),
        ({**BASE, "EVENTHUBS_SECRET_TEMPLATE": "eventhubs-sas"}, "EVENTHUBS_SECRET_TEMPLATE"),
        ({**BASE, "EVENTHUBS_SECRET_TEMPLATE": "eh_{namespace}"}, "EVENTHUBS_SECRET_TEMPLATE"),
        ({**BASE, "EVENTHUBS_AAD_SECRET_TEMPLATE": "eventhubs-sas-{namespace}"}, "EVENTHUBS_AAD_SECRET_TEMPLATE"),
        ({**BASE, "ADOBE_CLIENT_SECRET_SECRET": "bad name!"}, "ADOBE_CLIENT_SECRET_SECRET"),
        ({**BASE, "CONNECTIONS_TABLE": "1table"}, "CONNECTIONS_TABLE"),
        ({**BASE, "CONNECTION_EVENTS_QUEUE": "Bad_Queue"}, "CONNECTION_EVENTS_QUEUE"),
        ({**BASE, "SECRET_CACHE_SECONDS": "five"}, "SECRET_CACHE_SECONDS"),
        ({**BASE, "SECRET_CACHE_SECONDS": "-1"}, "SECRET_CACHE_SECONDS"),
        ({**BASE, "SECRET_CACHE_SECONDS": "nan"}, "SECRET_CACHE_SECONDS"),
        ({**BASE, "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "maybe"}, "DELETE_CONNECTION_ON_NAMESPACE_DELETE"),
        ({**BASE, "RETRY_BUDGET_SECONDS": "200", "CLAIM_LEASE_SECONDS": "100"}, "CLAIM_LEASE_SECONDS"),
        ({**BASE, "AzureWebJobsStorage": "not a connection string"}, "AzureWebJobsStorage"),
        # issue 11: a live claim must not expire (lease > budget + one call's connect and read timeout)
        (
            {**BASE, "CLAIM_LEASE_SECONDS": "3", "RETRY_BUDGET_SECONDS": "2", "HTTP_TIMEOUT_SECONDS": "10"},
            "CLAIM_LEASE_SECONDS",
        ),
        ({**BASE, "VERIFY_DELAY_SECONDS": "5", "HTTP_TIMEOUT_SECONDS": "10"}, "VERIFY_DELAY_SECONDS"),
        ({**BASE, "AZURE_SUBSCRIPTION_IDS": "sub-1,sub-2"}, "AZURE_SUBSCRIPTION_IDS"),
        # issue 11: every service URL is https except on a loopback host, storage endpoints included
        (
            {
                "KEY_VAULT_URL": "https://kv.vault.azure.net/",
                "AzureWebJobsStorage__accountName": "contoso",
                "AzureWebJobsStorage__tableServiceUri": "http://contoso.table.core.windows.net",
            },
            "AzureWebJobsStorage__tableServiceUri",
        ),
        (
            {
                "KEY_VAULT_URL": "https://kv.vault.azure.net/",
                "AzureWebJobsStorage__accountName": "contoso",
                "AzureWebJobsStorage__queueServiceUri": "http://evil.example/queues",
            },
            "AzureWebJobsStorage__queueServiceUri",
        ),
        (
            {**BASE, "AzureWebJobsStorage": "DefaultEndpointsProtocol=http;AccountName=contoso;AccountKey=a2V5"},
            "AzureWebJobsStorage",
        ),
        (
            {**BASE, "AzureWebJobsStorage": "AccountName=c;AccountKey=a2V5;TableEndpoint=http://remote.example/t"},
            "AzureWebJobsStorage",
        ),
        ({**BASE, "AZURE_RESOURCE_MANAGER_URL": "http://management.example"}, "AZURE_RESOURCE_MANAGER_URL"),
        ({**BASE, "DATAFLOW_DATA_TYPE": "csv"}, "DATAFLOW_DATA_TYPE"),
        ({**BASE, "DATAFLOWS_TABLE": "EventHubsConnections"}, "DATAFLOWS_TABLE"),
    ],
)
def test_bad_setting_is_named(env: dict, setting: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    err = caught.value
    assert err.setting == setting
    assert setting in err.message
    assert err.http_status == 500
    assert err.to_body() == {"error": {"code": "ConfigurationError", "message": err.message, "setting": setting}}


def test_loopback_storage_endpoints_may_use_http() -> None:
    settings = Settings.from_env(
        {
            "KEY_VAULT_URL": "https://127.0.0.1:8443/",
            "AzureWebJobsStorage__accountName": "devstoreaccount1",
            "AzureWebJobsStorage__tableServiceUri": "http://127.0.0.1:10002/devstoreaccount1",
        }
    )
    assert settings.storage.table_endpoint == "http://127.0.0.1:10002/devstoreaccount1"


def test_the_apps_own_ca_bundle_beats_requests_ca_bundle(tmp_path: Path) -> None:
    own = tmp_path / "local-ca.pem"
    own.write_text("-----BEGIN CERTIFICATE-----\n")
    machine = {**BASE, "REQUESTS_CA_BUNDLE": "/etc/ssl/corporate.pem"}
    assert Settings.from_env(machine).ca_bundle == "/etc/ssl/corporate.pem"
    assert Settings.from_env({**machine, "CONNECTOR_CA_BUNDLE": str(own)}).ca_bundle == str(own)
    assert Settings.from_env(BASE).ca_bundle is None
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**machine, "CONNECTOR_CA_BUNDLE": str(tmp_path / "missing.pem")})
    assert raised.value.setting == "CONNECTOR_CA_BUNDLE" and "missing.pem" in raised.value.message


def test_the_apps_own_identity_client_id_beats_azure_client_id() -> None:
    exported = {**BASE, "AZURE_CLIENT_ID": "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"}
    assert Settings.from_env(exported).azure_client_id == "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
    assert Settings.from_env({**exported, "CONNECTOR_IDENTITY_CLIENT_ID": "system"}).azure_client_id is None
    own = "11111111-2222-3333-4444-555555555555"
    assert Settings.from_env({**exported, "CONNECTOR_IDENTITY_CLIENT_ID": own}).azure_client_id == own
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({**exported, "CONNECTOR_IDENTITY_CLIENT_ID": "my-identity"})
    assert raised.value.setting == "CONNECTOR_IDENTITY_CLIENT_ID"
