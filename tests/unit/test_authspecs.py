"""Auth spec choice from the connection spec, and secret names mapped back to namespaces."""

from shared.authspecs import choose_auth_spec
from shared.models import AuthType
from shared.settings import Settings


def spec(name: str, required: list[str], optional: list[str] = ()) -> dict:  # type: ignore[assignment]
    return {
        "name": name,
        "spec": {"properties": {p: {"type": "string"} for p in [*required, *optional]}, "required": required},
    }


DOC = {
    "authSpec": [
        spec("Basic Authentication for Event Hubs", ["sasKeyName", "sasKey", "namespace"], ["eventHubName"]),
        spec("Event Hub Azure Active Directory Auth", ["tenantId", "clientId", "clientSecretValue", "namespace"]),
        spec(
            "Event Hub Scoped Azure Active Directory Auth",
            ["tenantId", "clientId", "clientSecretValue", "namespace", "eventHubName"],
        ),
    ]
}
SAS = "Azure EventHub authentication credentials"


def test_renamed_sas_spec_is_found_by_its_parameters() -> None:
    assert choose_auth_spec(DOC, ["sasKeyName", "sasKey", "namespace"], SAS) == "Basic Authentication for Event Hubs"
    assert (
        choose_auth_spec(DOC, ["sasKeyName", "sasKey", "namespace", "eventHubName"], SAS)
        == "Basic Authentication for Event Hubs"
    )


def test_aad_scoped_and_unscoped_are_told_apart() -> None:
    aad = ["tenantId", "clientId", "clientSecretValue", "namespace"]
    assert choose_auth_spec(DOC, aad, "x") == "Event Hub Azure Active Directory Auth"
    assert choose_auth_spec(DOC, [*aad, "eventHubName"], "x") == "Event Hub Scoped Azure Active Directory Auth"


def test_documented_name_wins_when_it_fits_and_is_the_fallback() -> None:
    both = {"authSpec": [*DOC["authSpec"], spec(SAS, ["sasKeyName", "sasKey", "namespace"])]}
    assert choose_auth_spec(both, ["sasKeyName", "sasKey", "namespace"], SAS) == SAS
    assert choose_auth_spec(None, ["sasKey"], SAS) == SAS
    assert choose_auth_spec({"authSpec": [{"name": 5}, "junk", {"name": "n", "spec": None}]}, ["sasKey"], SAS) == SAS


def test_secret_owner() -> None:
    settings = Settings.from_env(
        {"KEY_VAULT_URL": "https://kv.vault.azure.net", "AzureWebJobsStorage": "UseDevelopmentStorage=true"}
    )
    assert settings.secret_owner("eventhubs-sas-contoso-telemetry") == (AuthType.SAS, "contoso-telemetry")
    assert settings.secret_owner("EventHubs-AAD-Contoso-Telemetry") == (AuthType.AAD, "contoso-telemetry")
    assert settings.secret_owner("adobe-client-secret") is None
    assert settings.secret_owner("eventhubs-sas-") is None
    assert settings.secret_owner("eventhubs-sas-bad_name") is None
