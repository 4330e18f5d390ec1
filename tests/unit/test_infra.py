"""The Bicep templates (infra/) and the Logic App example deploy what the contract needs.

Every .bicep file is parsed with pycep (the parser Checkov uses for Bicep), and the parsed trees
are checked: the function app's identity, runtime and settings, storage hardening, the built-in
role definitions of the role assignments, and the Event Grid subscriptions' endpoints and filters.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pycep import BicepParser

from tests.openapi_contract import CONTRACT_ERROR_CODES

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"
WORKFLOW = ROOT / "examples" / "logic-app-workflow.json"
README = ROOT / "README.md"

# Built-in Azure role definitions (the same GUID in every tenant).
KEY_VAULT_SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_QUEUE_DATA_CONTRIBUTOR = "974c5e8b-45b9-4653-ba55-5f855dd0fb88"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"  # Resource Graph listing of the managed subscriptions
MONITORING_READER = "43d0d8ad-25c7-4714-9337-8ba259a9fe05"  # IncomingMessages of the namespaces (dataflow health)
# Broad roles that must never be granted by this template.
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
USER_ACCESS_ADMINISTRATOR = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
STORAGE_ACCOUNT_CONTRIBUTOR = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
KEY_VAULT_ADMINISTRATOR = "00482a5a-887f-4fb3-b363-3b7fe8e74483"

# The contract's settings, with the defaults the template must use. AzureWebJobsStorage itself is
# replaced by the identity-based AzureWebJobsStorage__* settings (checked separately).
CONTRACT_DEFAULTS: dict[str, Any] = {
    "ADOBE_SANDBOX_NAME": "prod",
    "ADOBE_IMS_URL": "https://ims-na1.adobelogin.com",
    "ADOBE_PLATFORM_URL": "https://platform.adobe.io",
    "ADOBE_SCOPES": "openid,AdobeID,read_organizations,additional_info.projectedProductContext,session",
    "ADOBE_CLIENT_ID_SECRET": "adobe-client-id",
    "ADOBE_CLIENT_SECRET_SECRET": "adobe-client-secret",
    "ADOBE_ORG_ID_SECRET": "adobe-org-id",
    "EVENTHUBS_SECRET_TEMPLATE": "eventhubs-sas-{namespace}",
    "EVENTHUBS_AAD_SECRET_TEMPLATE": "eventhubs-aad-{namespace}",
    "CONNECTIONS_TABLE": "EventHubsConnections",
    "SECRET_CACHE_SECONDS": 300,
    "DELETE_CONNECTION_ON_NAMESPACE_DELETE": False,
}
# main.bicep parameter behind each defaulted setting.
SETTING_PARAMETERS = {
    "ADOBE_SANDBOX_NAME": "adobeSandboxName",
    "ADOBE_IMS_URL": "adobeImsUrl",
    "ADOBE_PLATFORM_URL": "adobePlatformUrl",
    "ADOBE_SCOPES": "adobeScopes",
    "ADOBE_CLIENT_ID_SECRET": "adobeClientIdSecret",
    "ADOBE_CLIENT_SECRET_SECRET": "adobeClientSecretSecret",
    "ADOBE_ORG_ID_SECRET": "adobeOrgIdSecret",
    "EVENTHUBS_SECRET_TEMPLATE": "eventHubsSecretTemplate",
    "EVENTHUBS_AAD_SECRET_TEMPLATE": "eventHubsAadSecretTemplate",
    "CONNECTIONS_TABLE": "connectionsTableName",
    "SECRET_CACHE_SECONDS": "secretCacheSeconds",
    "DELETE_CONNECTION_ON_NAMESPACE_DELETE": "deleteConnectionOnNamespaceDelete",
    "CONNECTION_EVENTS_QUEUE": "connectionEventsQueueName",
}
# Timing knobs the template leaves at the code's defaults (validated together in shared/settings.py).
TIMING_SETTINGS = {
    "HTTP_TIMEOUT_SECONDS",
    "RETRY_BUDGET_SECONDS",
    "CLAIM_LEASE_SECONDS",
    "CLAIM_WAIT_SECONDS",
    "VERIFY_AFTER_SECONDS",
}
# Telemetry switches for other set-ups (the app configures the distro itself when deployed by infra/).
TELEMETRY_SWITCHES = {"PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "OTEL_SDK_DISABLED"}
# The app's own names for what a developer machine may export (local stack; Azure sets AZURE_CLIENT_ID
# and trusts the public CAs).
LOCAL_ONLY_SETTINGS = {"CONNECTOR_CA_BUNDLE", "CONNECTOR_IDENTITY_CLIENT_ID"}
REQUIRED_SETTINGS = {
    "KEY_VAULT_URL",
    "AzureWebJobsStorage__accountName",
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AZURE_CLIENT_ID",
    "CONNECTION_EVENTS_QUEUE",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    *CONTRACT_DEFAULTS,
}


# ---------------------------------------------------------------------------------------- parsing


def bicep_files() -> list[Path]:
    return sorted(INFRA.rglob("*.bicep"))


@functools.cache
def _parser() -> BicepParser:
    return BicepParser()


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return _parser().parse(file_path=path)


def module(name: str) -> dict[str, Any]:
    return parse(MODULES / name)


def resources_of_type(tree: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in tree.get("resources", {}).items()
        if resource["type"].lower() == resource_type.lower()
    }


def the_resource(tree: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found = resources_of_type(tree, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.values()))


def body(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource body (pycep nests it once more for loops and conditions)."""
    config = resource["config"]
    if "loop_type" in config or ("condition" in config and "config" in config):
        return config["config"]
    return config


def value_of(node: Any, tree: dict[str, Any]) -> Any:
    """Resolve a bare identifier to its variable value or parameter default (pycep keeps both as str)."""
    if isinstance(node, str):
        if node in tree.get("variables", {}):
            return value_of(tree["variables"][node]["value"], tree)
        if node in tree.get("parameters", {}):
            return tree["parameters"][node]["default"]
    if isinstance(node, dict) and "operator" in node:
        operator = node["operator"]
        if operator["type"] == "property_accessor":
            target = value_of(operator["operands"]["operand_1"], tree)
            key = operator["operands"]["operand_2"]
            if isinstance(target, dict) and isinstance(key, str) and key in target:
                return value_of(target[key], tree)
    return node


def interpolate(text: str, tree: dict[str, Any]) -> str:
    """Substitute `${var}` in a Bicep string with the variables' literal values, where known."""

    def substitute(match: re.Match[str]) -> str:
        resolved = value_of(match.group(1), tree)
        return resolved if isinstance(resolved, str) and resolved != match.group(1) else match.group(0)

    return re.sub(r"\$\{(\w+)\}", substitute, text)


def walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def settings_entries(node: Any, tree: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every `{name, value}` app-setting object an appSettings expression can produce
    (variables, concat/union of arrays, both branches of a condition)."""
    node = value_of(node, tree)
    if isinstance(node, list):
        for item in node:
            if isinstance(item, dict) and "name" in item:
                yield item
            else:
                yield from settings_entries(item, tree)
    elif isinstance(node, dict) and "function" in node:
        for argument in node["function"]["parameters"].values():
            yield from settings_entries(argument, tree)
    elif isinstance(node, dict) and node.get("operator", {}).get("type") == "conditional":
        operands = node["operator"]["operands"]
        yield from settings_entries(operands["true_value"], tree)
        yield from settings_entries(operands["false_value"], tree)


def function_app_tree() -> dict[str, Any]:
    return module("function-app.bicep")


def function_app() -> dict[str, Any]:
    return body(the_resource(function_app_tree(), "Microsoft.Web/sites"))


def app_settings() -> dict[str, Any]:
    tree = function_app_tree()
    expression = function_app()["properties"]["siteConfig"]["appSettings"]
    entries = list(settings_entries(expression, tree))
    names = [entry["name"] for entry in entries]
    assert len(names) == len(set(names)), f"duplicate app settings: {names}"
    return {entry["name"]: entry["value"] for entry in entries}


def role_assignments(tree: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> {'role': GUID, 'scope': ..., 'principalType': ...} for each role assignment."""
    found = {}
    for name, resource in resources_of_type(tree, "Microsoft.Authorization/roleAssignments").items():
        config = body(resource)
        definition = config["properties"]["roleDefinitionId"]
        function = definition["function"]
        assert function["type"] == "subscription_resource_id", f"{name}: use subscriptionResourceId()"
        assert function["parameters"]["resource_type"] == "Microsoft.Authorization/roleDefinitions"
        found[name] = {
            "role": value_of(function["parameters"]["resource_name_1"], tree),
            "scope": config.get("scope"),
            "principalType": config["properties"].get("principalType"),
            "principalId": config["properties"].get("principalId"),
        }
    return found


# ---------------------------------------------------------------------------------------- parsing


def test_there_are_bicep_files() -> None:
    names = {path.relative_to(INFRA).as_posix() for path in bicep_files()}
    assert "main.bicep" in names
    assert len(names) >= 5, names


@pytest.mark.parametrize("path", bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_bicep_file_parses(path: Path) -> None:
    tree = parse(path)
    assert tree.get("resources") or tree.get("modules"), f"{path} declares nothing"


def test_every_module_reference_exists_and_every_module_is_used() -> None:
    referenced: set[Path] = set()
    for path in bicep_files():
        for name, declared in parse(path).get("modules", {}).items():
            assert declared["type"] == "local", f"{path.name}:{name} must be a local module"
            target = (path.parent / declared["detail"]["path"]).resolve()
            assert target.is_file(), f"{path.name}:{name} refers to missing {target}"
            referenced.add(target)
    unused = {p.resolve() for p in MODULES.glob("*.bicep")} - referenced
    assert not unused, f"modules never used: {sorted(p.name for p in unused)}"


def test_module_parameters_passed_by_main_exist_and_required_ones_are_passed() -> None:
    for name, declared in parse(MAIN)["modules"].items():
        config = declared["config"].get("config", declared["config"])
        passed = set(config.get("params", {}))
        target = parse((MAIN.parent / declared["detail"]["path"]).resolve())
        params = target.get("parameters", {})
        assert passed <= set(params), f"{name}: unknown parameters {passed - set(params)}"
        required = {p for p, spec in params.items() if spec.get("default") is None}
        assert required <= passed, f"{name}: required parameters not passed: {required - passed}"


# ---------------------------------------------------------------------------------------- main


def test_main_parameters_existing_key_vault_and_two_phase_switch() -> None:
    params = parse(MAIN)["parameters"]
    assert params["keyVaultName"]["type"] == "string"
    assert params["keyVaultName"]["default"] is None, "the vault is an existing one: no default"
    assert params["keyVaultResourceGroupName"]["type"] == "string"
    assert params["deployEventSubscriptions"]["type"] == "bool"
    assert params["deployEventSubscriptions"]["default"] is True
    allowed = [d for d in params["namespaceEventsScope"]["decorators"] if d["type"] == "allowed"]
    assert allowed and set(allowed[0]["argument"]) == {"resourceGroup", "subscription"}


@pytest.mark.parametrize("setting", sorted(SETTING_PARAMETERS))
def test_main_defaults_are_the_contract_defaults(setting: str) -> None:
    params = parse(MAIN)["parameters"]
    parameter = params[SETTING_PARAMETERS[setting]]
    expected = CONTRACT_DEFAULTS.get(setting, "")  # CONNECTION_EVENTS_QUEUE: unset
    assert parameter["default"] == expected


def test_main_passes_each_setting_parameter_to_the_function_app() -> None:
    declared = parse(MAIN)["modules"]["functionApp"]
    passed = declared["config"]["params"]
    for parameter in SETTING_PARAMETERS.values():
        assert passed.get(parameter) == parameter, f"main.bicep does not pass {parameter} through"
    assert passed["pythonVersion"] == "pythonVersion"
    python = parse(MAIN)["parameters"]["pythonVersion"]
    assert python["default"] == "3.13"


def test_key_vault_modules_are_scoped_to_the_vault_resource_group() -> None:
    modules = parse(MAIN)["modules"]
    for name in ("keyVaultAccess", "keyVaultEvents"):
        config = modules[name]["config"].get("config", modules[name]["config"])
        scope = config["scope"]["function"]
        assert scope["type"] == "resource_group"
        assert scope["parameters"]["resource_group_name"] == "keyVaultResourceGroupName", name
    namespace_config = modules["namespaceEvents"]["config"]["config"]
    scope = namespace_config["scope"]["function"]
    assert scope["parameters"]["resource_group_name"] == "eventHubsResourceGroupName"


def test_event_subscription_modules_depend_on_the_switch_and_nothing_else_does() -> None:
    modules = parse(MAIN)["modules"]
    conditional = {name for name, m in modules.items() if m["config"].get("condition") is not None}
    assert conditional == {"namespaceEvents", "keyVaultEvents", "subscriptionReader", "healthAlert"}
    assert modules["subscriptionReader"]["detail"]["path"] == "modules/subscription-reader.bicep"
    assert modules["healthAlert"]["config"]["condition"] == "deployHealthAlert"
    for name in conditional - {"subscriptionReader", "healthAlert"}:
        assert modules[name]["config"]["condition"] == "deployEventSubscriptions"
        paths = modules[name]["detail"]["path"]
        assert paths in {"modules/namespace-events.bicep", "modules/keyvault-events.bicep"}


def test_user_assigned_identity_is_created_in_main() -> None:
    the_resource(parse(MAIN), "Microsoft.ManagedIdentity/userAssignedIdentities")


# ---------------------------------------------------------------------------------------- function app


def test_function_app_is_linux_flex_consumption() -> None:
    tree = function_app_tree()
    plan = body(the_resource(tree, "Microsoft.Web/serverfarms"))
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan["properties"]["reserved"] is True  # Linux
    site = function_app()
    assert set(site["kind"].split(",")) == {"functionapp", "linux"}
    assert site["properties"]["serverFarmId"]["operator"]["operands"]["operand_1"] == "plan"


def test_function_app_runs_as_the_user_assigned_identity() -> None:
    site = function_app()
    identity = site["identity"]
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == ["'${identityId}'"]
    storage = site["properties"]["functionAppConfig"]["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }


def test_function_app_runtime_is_python_3_13_or_3_11() -> None:
    tree = function_app_tree()
    runtime = function_app()["properties"]["functionAppConfig"]["runtime"]
    assert runtime["name"] == "python"
    assert value_of(runtime["version"], tree) == "3.13"
    allowed = [d for d in tree["parameters"]["pythonVersion"]["decorators"] if d["type"] == "allowed"]
    assert allowed and allowed[0]["argument"] == ["3.13", "3.11"]


def test_function_app_is_https_only_with_tls_1_2_and_no_ftp_or_basic_auth() -> None:
    tree = function_app_tree()
    site = function_app()
    assert site["properties"]["httpsOnly"] is True
    config = site["properties"]["siteConfig"]
    assert config["minTlsVersion"] == "1.2"
    assert config["ftpsState"] == "Disabled"
    assert config["remoteDebuggingEnabled"] is False
    policies = resources_of_type(tree, "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    assert {body(p)["name"]: body(p)["properties"]["allow"] for p in policies.values()} == {
        "ftp": False,
        "scm": False,
    }


def test_every_contract_setting_is_an_app_setting() -> None:
    settings = app_settings()
    missing = REQUIRED_SETTINGS - set(settings)
    assert not missing, f"app settings missing: {sorted(missing)}"


def test_every_documented_setting_is_deployed() -> None:
    """The README's settings table (which tests/unit/test_docs_match_code.py checks against the code)."""
    section = README.read_text(encoding="utf-8").split("\n## Settings", 1)[1].split("\n## ", 1)[0]
    names = set(re.findall(r"^\| `([A-Za-z_]+)` \|", section, flags=re.MULTILINE))
    assert "KEY_VAULT_URL" in names, "could not read the README's settings table"
    names.discard("AzureWebJobsStorage")  # identity-based: AzureWebJobsStorage__* instead
    names -= TIMING_SETTINGS | TELEMETRY_SWITCHES | LOCAL_ONLY_SETTINGS
    deployed = set(app_settings())
    assert names <= deployed, f"documented settings not deployed: {sorted(names - deployed)}"


def test_storage_settings_are_identity_based() -> None:
    settings = app_settings()
    assert "AzureWebJobsStorage" not in settings, "no connection string: identity-based storage only"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert settings["AzureWebJobsStorage__accountName"] == "storageAccountName"


def test_app_settings_hold_no_key_and_no_setting_flex_refuses() -> None:
    settings = app_settings()
    text = json.dumps(settings)
    for forbidden in ("AccountKey", "listKeys", "SharedAccessKey", "InstrumentationKey="):
        assert forbidden not in text
    # Flex Consumption takes the runtime from functionAppConfig and rejects these settings.
    for refused in (
        "FUNCTIONS_WORKER_RUNTIME",
        "FUNCTIONS_EXTENSION_VERSION",
        "WEBSITE_RUN_FROM_PACKAGE",
        "WEBSITE_CONTENTSHARE",
        "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    ):
        assert refused not in settings
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "ClientId=${identityClientId};Authorization=AAD"


def test_boolean_and_number_settings_are_rendered_as_strings() -> None:
    settings = app_settings()
    assert settings["SECRET_CACHE_SECONDS"]["function"]["type"] == "string"
    flag = settings["DELETE_CONNECTION_ON_NAMESPACE_DELETE"]["operator"]
    assert flag["type"] == "conditional"
    assert (flag["operands"]["true_value"], flag["operands"]["false_value"]) == ("true", "false")


def test_connection_events_queue_setting_is_only_present_when_named() -> None:
    variables = function_app_tree()["variables"]
    conditional = variables["eventsQueueSettings"]["value"]["operator"]
    assert conditional["type"] == "conditional"
    assert conditional["operands"]["condition"]["function"]["type"] == "empty"
    assert conditional["operands"]["true_value"] == []
    assert conditional["operands"]["false_value"][0]["name"] == "CONNECTION_EVENTS_QUEUE"


# ---------------------------------------------------------------------------------------- storage


def storage_tree() -> dict[str, Any]:
    return module("storage.bicep")


def test_storage_account_refuses_shared_keys_and_anonymous_access() -> None:
    account = body(the_resource(storage_tree(), "Microsoft.Storage/storageAccounts"))
    properties = account["properties"]
    assert properties["allowSharedKeyAccess"] is False
    assert properties["defaultToOAuthAuthentication"] is True
    assert properties["allowBlobPublicAccess"] is False
    assert properties["minimumTlsVersion"] == "TLS1_2"
    assert properties["supportsHttpsTrafficOnly"] is True


def test_storage_creates_the_request_queue_its_poison_queue_and_the_table() -> None:
    tree = storage_tree()
    base = value_of("baseQueueNames", tree)
    assert base == ["requestQueueName", "${requestQueueName}-poison"]
    assert tree["parameters"]["requestQueueName"]["default"] == "eventhubs-connection-requests"
    passed = parse(MAIN)["modules"]["storage"]["config"]["params"]
    assert passed["requestQueueName"] == "eventhubs-connection-requests"
    assert passed["connectionsTableName"] == "connectionsTableName"
    table = body(the_resource(tree, "Microsoft.Storage/storageAccounts/tableServices/tables"))
    assert table["name"] == "connectionsTableName"
    containers = resources_of_type(tree, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert all(body(c)["properties"]["publicAccess"] == "None" for c in containers.values())


# ---------------------------------------------------------------------------------------- roles


def test_storage_roles_are_exactly_the_three_data_roles_on_the_account() -> None:
    roles = role_assignments(storage_tree())
    assert sorted(r["role"] for r in roles.values()) == sorted(
        [STORAGE_BLOB_DATA_OWNER, STORAGE_QUEUE_DATA_CONTRIBUTOR, STORAGE_TABLE_DATA_CONTRIBUTOR]
    )
    for name, role in roles.items():
        assert role["scope"] == "storage", f"{name} must be scoped to the storage account"
        assert role["principalType"] == "ServicePrincipal"


def test_key_vault_role_is_secrets_user_on_the_vault_only() -> None:
    tree = module("keyvault-access.bicep")
    roles = role_assignments(tree)
    assert [r["role"] for r in roles.values()] == [KEY_VAULT_SECRETS_USER]
    assert [r["scope"] for r in roles.values()] == ["vault"]
    vault = the_resource(tree, "Microsoft.KeyVault/vaults")
    assert vault["existing"] is True


def test_monitoring_role_is_metrics_publisher_on_application_insights() -> None:
    tree = module("monitoring.bicep")
    roles = role_assignments(tree)
    assert [(r["role"], r["scope"]) for r in roles.values()] == [(MONITORING_METRICS_PUBLISHER, "appInsights")]
    insights = body(the_resource(tree, "Microsoft.Insights/components"))
    assert insights["properties"]["DisableLocalAuth"] is True


def test_no_broad_role_is_granted_anywhere() -> None:
    granted = {role["role"] for path in bicep_files() for role in role_assignments(parse(path)).values()}
    assert granted == {
        KEY_VAULT_SECRETS_USER,
        STORAGE_BLOB_DATA_OWNER,
        STORAGE_QUEUE_DATA_CONTRIBUTOR,
        STORAGE_TABLE_DATA_CONTRIBUTOR,
        MONITORING_METRICS_PUBLISHER,
        READER,
        MONITORING_READER,
    }
    text = "\n".join(path.read_text(encoding="utf-8") for path in bicep_files())
    for broad in (OWNER, CONTRIBUTOR, USER_ACCESS_ADMINISTRATOR, STORAGE_ACCOUNT_CONTRIBUTOR, KEY_VAULT_ADMINISTRATOR):
        assert broad not in text


def test_role_guids_are_well_formed() -> None:
    guid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    for value in (
        KEY_VAULT_SECRETS_USER,
        STORAGE_BLOB_DATA_OWNER,
        STORAGE_QUEUE_DATA_CONTRIBUTOR,
        STORAGE_TABLE_DATA_CONTRIBUTOR,
        MONITORING_METRICS_PUBLISHER,
        READER,
        MONITORING_READER,
    ):
        assert guid.match(value), value


def test_the_subscription_roles_are_reader_and_monitoring_reader_for_the_app() -> None:
    roles = role_assignments(module("subscription-reader.bicep"))
    assert sorted(r["role"] for r in roles.values()) == sorted([READER, MONITORING_READER])
    assert {r["principalType"] for r in roles.values()} == {"ServicePrincipal"}


def test_the_health_schedule_is_always_set() -> None:
    settings = app_settings()
    assert "HEALTH_SCHEDULE" in settings and "HEALTH_REENABLE" in settings


def test_the_health_alert_is_optional_and_off_by_default() -> None:
    params = parse(MAIN)["parameters"]
    assert params["deployHealthAlert"]["type"] == "bool" and params["deployHealthAlert"]["default"] is False
    assert (
        params["healthAlertActionGroupIds"]["type"] == "array" and params["healthAlertActionGroupIds"]["default"] == []
    )
    declared = parse(MAIN)["modules"]["healthAlert"]
    assert declared["detail"]["path"] == "modules/health-alert.bicep"
    passed = declared["config"]["config"]["params"]
    assert passed["actionGroupIds"] == "healthAlertActionGroupIds"
    assert "monitoring" in json.dumps(passed["appInsightsId"]), "scoped to the app's Application Insights"


def test_the_health_alert_fires_on_the_unhealthy_line_the_app_logs() -> None:
    """The rule's query matches the line and the custom dimensions shared/health.py logs on a change to unhealthy."""
    tree = module("health-alert.bicep")
    rule = body(the_resource(tree, "Microsoft.Insights/scheduledQueryRules"))
    properties = rule["properties"]
    assert rule["kind"] == "LogAlert" and properties["scopes"] == ["appInsightsId"]
    assert properties["autoMitigate"] is False, "the line is logged once per change: the alert must not self-resolve"
    assert properties["actions"]["actionGroups"] == "actionGroupIds"
    [condition] = properties["criteria"]["allOf"]
    assert (condition["timeAggregation"], condition["operator"], condition["threshold"]) == ("Count", "GreaterThan", 0)
    query = value_of(condition["query"], tree)
    assert isinstance(query, str) and query.strip().startswith("traces"), query
    health = (ROOT / "shared" / "health.py").read_text(encoding="utf-8")
    assert '"dataflow health: %s namespace=' in health and '"unhealthy" if event == UNHEALTHY' in health
    assert 'where message startswith "dataflow health: unhealthy"' in query
    for dimension in ("health_status", "sandbox", "namespace", "event_hub"):
        assert f'"{dimension}":' in health, dimension
        assert f"customDimensions.{dimension}" in query, dimension
    assert 'status in ("failing", "stalled", "disabled")' in query
    split = {d["name"] for d in condition["dimensions"]}
    assert split == {"sandbox", "namespace", "eventHub"}, "one alert per dataflow"
    assert all(f"{name}" in query.split("| project", 1)[1] for name in split), "the split columns are projected"


# ---------------------------------------------------------------------------------------- Event Grid


def event_subscription(tree: dict[str, Any]) -> dict[str, Any]:
    return body(the_resource(tree, "Microsoft.EventGrid/systemTopics/eventSubscriptions"))


def destination_function(tree: dict[str, Any]) -> str:
    destination = event_subscription(tree)["properties"]["destination"]
    assert destination["endpointType"] == "AzureFunction"
    resource_id = interpolate(destination["properties"]["resourceId"], tree)
    prefix = "${functionAppId}/functions/"
    assert resource_id.startswith(prefix), resource_id
    return resource_id[len(prefix) :]


def test_namespace_events_go_to_on_namespace_event_filtered_on_event_hubs_namespaces() -> None:
    tree = module("namespace-events.bicep")
    assert destination_function(tree) == "on_namespace_event"
    event_filter = event_subscription(tree)["properties"]["filter"]
    assert sorted(event_filter["includedEventTypes"]) == [
        "Microsoft.Resources.ResourceDeleteSuccess",
        "Microsoft.Resources.ResourceWriteSuccess",
    ]
    assert event_filter["advancedFilters"] == [
        {
            "operatorType": "StringIn",
            "key": "data.operationName",
            "values": [
                "Microsoft.EventHub/namespaces/write",
                "Microsoft.EventHub/namespaces/delete",
                "Microsoft.EventHub/namespaces/eventhubs/write",
                "Microsoft.EventHub/namespaces/eventhubs/delete",
            ],
        }
    ]


def test_namespace_system_topic_is_on_the_resource_group_or_subscription() -> None:
    tree = module("namespace-events.bicep")
    topic = body(the_resource(tree, "Microsoft.EventGrid/systemTopics"))
    assert topic["location"] == "global"
    topic_type = topic["properties"]["topicType"]["operator"]["operands"]
    assert {topic_type["true_value"], topic_type["false_value"]} == {
        "Microsoft.Resources.Subscriptions",
        "Microsoft.Resources.ResourceGroups",
    }


def test_key_vault_events_go_to_on_secret_event() -> None:
    tree = module("keyvault-events.bicep")
    assert destination_function(tree) == "on_secret_event"
    event_filter = event_subscription(tree)["properties"]["filter"]
    assert sorted(event_filter["includedEventTypes"]) == [
        "Microsoft.KeyVault.SecretNearExpiry",
        "Microsoft.KeyVault.SecretNewVersionCreated",
    ]
    topic = body(the_resource(tree, "Microsoft.EventGrid/systemTopics"))
    assert topic["properties"]["topicType"] == "Microsoft.KeyVault.vaults"
    assert topic["properties"]["source"]["operator"]["operands"] == {"operand_1": "vault", "operand_2": "id"}
    assert the_resource(tree, "Microsoft.KeyVault/vaults")["existing"] is True


@pytest.mark.parametrize("name", ["namespace-events.bicep", "keyvault-events.bicep"])
def test_event_subscription_names_follow_event_grid_rules(name: str) -> None:
    # Event subscription names: 3-64 letters, digits and hyphens (no underscore, unlike function names).
    subscription_name = event_subscription(module(name))["name"]
    assert re.fullmatch(r"[A-Za-z0-9-]{3,64}", subscription_name), subscription_name


@pytest.mark.parametrize("name", ["namespace-events.bicep", "keyvault-events.bicep"])
def test_event_subscriptions_deliver_one_event_at_a_time_and_dead_letter(name: str) -> None:
    properties = event_subscription(module(name))["properties"]
    assert properties["eventDeliverySchema"] == "eventDeliverySchema", "the operator's choice"
    assert properties["destination"]["properties"]["maxEventsPerBatch"] == 1
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "UserAssigned", "userAssignedIdentity": "identityId"}
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"


DELIVERY_SCHEMAS = {"EventGridSchema", "CloudEventSchemaV1_0"}


@pytest.mark.parametrize(
    "tree_of", [lambda: parse(MAIN), lambda: module("namespace-events.bicep"), lambda: module("keyvault-events.bicep")]
)
def test_the_operator_chooses_the_delivery_schema(tree_of: Any) -> None:
    """Both schemas the functions take (Event Grid, CloudEvents 1.0), the Event Grid schema by default."""
    parameter = tree_of()["parameters"]["eventDeliverySchema"]
    allowed = [d for d in parameter["decorators"] if d["type"] == "allowed"]
    assert allowed and set(allowed[0]["argument"]) == DELIVERY_SCHEMAS
    assert parameter["default"] == "EventGridSchema", "an existing subscription cannot change its schema"


def test_main_passes_the_delivery_schema_to_both_event_subscriptions() -> None:
    modules = parse(MAIN)["modules"]
    for name in ("namespaceEvents", "keyVaultEvents"):
        config = modules[name]["config"].get("config", modules[name]["config"])
        assert config["params"]["eventDeliverySchema"] == "eventDeliverySchema", name


# ---------------------------------------------------------------------------------------- checkov


def test_every_checkov_skip_is_inside_a_resource_and_says_why() -> None:
    skip = re.compile(r"checkov:skip=([A-Z0-9_]+)(:?)(.*)")
    for path in bicep_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = skip.search(line)
            if not match:
                continue
            check, colon, reason = match.groups()
            assert re.fullmatch(r"CKV2?_AZURE_\d+", check), f"{path.name}:{number}: {check}"
            assert colon and len(reason.strip()) >= 40, f"{path.name}:{number}: {check} needs a reason"
            assert line.startswith("  //"), f"{path.name}:{number}: put the skip inside the resource body"


def test_checkov_script_pins_its_version_and_scans_infra() -> None:
    script = (ROOT / ".ci" / "checkov.sh").read_text(encoding="utf-8")
    assert re.search(r'CHECKOV_VERSION="\d+\.\d+\.\d+"', script)
    assert "-d infra --framework bicep" in script
    assert ".venv-checkov" in script


# ---------------------------------------------------------------------------------------- Logic App


def workflow() -> dict[str, Any]:
    return json.loads(WORKFLOW.read_text(encoding="utf-8"))


def all_actions(actions: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, action in actions.items():
        yield name, action
        yield from all_actions(action.get("actions", {}))
        yield from all_actions(action.get("else", {}).get("actions", {}))
        for case in action.get("cases", {}).values():
            yield from all_actions(case.get("actions", {}))
        yield from all_actions(action.get("default", {}).get("actions", {}))


def test_workflow_is_a_logic_apps_definition() -> None:
    document = workflow()
    definition = document["definition"]
    assert "Microsoft.Logic/schemas/2016-06-01/workflowdefinition.json" in definition["$schema"]
    assert set(definition) >= {"triggers", "actions", "parameters"}
    for name in definition["parameters"]:
        assert name in document["parameters"], f"no value for workflow parameter {name}"


def test_workflow_run_after_refers_to_sibling_actions() -> None:
    def check(actions: dict[str, Any]) -> None:
        for name, action in actions.items():
            for previous in action.get("runAfter", {}):
                assert previous in actions, f"{name} runs after unknown sibling {previous}"
            check(action.get("actions", {}))
            check(action.get("else", {}).get("actions", {}))

    check(workflow()["definition"]["actions"])
    names = [name for name, _ in all_actions(workflow()["definition"]["actions"])]
    assert len(names) == len(set(names)), "action names must be unique in a workflow"


def test_workflow_reads_the_function_key_from_key_vault_with_its_identity() -> None:
    actions = dict(all_actions(workflow()["definition"]["actions"]))
    get_key = actions["Get_function_key"]
    assert get_key["type"] == "Http"
    assert ".vault.azure.net/secrets/" in get_key["inputs"]["uri"]
    assert get_key["inputs"]["authentication"] == {
        "type": "ManagedServiceIdentity",
        "audience": "https://vault.azure.net",
    }
    # The key must not appear in the run history.
    assert set(get_key["runtimeConfiguration"]["secureData"]["properties"]) == {"inputs", "outputs"}


def test_workflow_calls_the_http_function_with_that_key() -> None:
    actions = dict(all_actions(workflow()["definition"]["actions"]))
    call = actions["Create_connection"]
    assert call["type"] == "Http"
    assert call["inputs"]["method"] == "POST"
    assert call["inputs"]["uri"].endswith("/api/connections")
    assert call["inputs"]["headers"]["x-functions-key"] == "@{body('Get_function_key')?['value']}"
    assert "inputs" in call["runtimeConfiguration"]["secureData"]["properties"]
    assert call["runAfter"] == {"Get_function_key": ["Succeeded"]}


def test_workflow_puts_a_queue_message_on_the_request_queue() -> None:
    document = workflow()
    actions = dict(all_actions(document["definition"]["actions"]))
    put = actions["Put_request_on_queue"]
    assert put["type"] == "ApiConnection"
    assert put["inputs"]["method"] == "post"
    assert "/queues/@{encodeURIComponent(parameters('requestQueueName'))}/messages" in put["inputs"]["path"]
    assert put["inputs"]["body"] == "@{string(triggerBody())}"  # plain JSON text, not base64
    assert document["parameters"]["requestQueueName"]["value"] == "eventhubs-connection-requests"
    connection = document["parameters"]["$connections"]["value"]["azurequeues"]
    assert connection["connectionProperties"]["authentication"]["type"] == "ManagedServiceIdentity"
    # The queue is the fallback for the answers that mean "try again later".
    route = actions["Retry_later_through_the_queue"]
    assert "createArray(409, 503)" in json.dumps(route["expression"])


def test_workflow_holds_no_secret() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for marker in ("SharedAccessKey=", "AccountKey=", "sig=", "code="):
        assert marker not in text


# ---------------------------------------------------------------------------------------- docs

ERROR_CODES = sorted(CONTRACT_ERROR_CODES)


def test_operations_doc_troubleshoots_every_error_code() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    troubleshooting = text.split("## Troubleshooting", 1)[1]
    missing = [code for code in ERROR_CODES if f"| `{code}` |" not in troubleshooting]
    assert not missing, f"no troubleshooting row for {missing}"
    assert "eventhubs_connector" in text
    for table in ("traces", "requests"):
        assert f"```kusto\n{table}" in text


def test_deploy_doc_lists_every_app_setting_and_the_three_phases() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    missing = [name for name in sorted(REQUIRED_SETTINGS) if f"`{name}`" not in text]
    assert not missing, f"deploy.md does not document {missing}"
    assert "deployEventSubscriptions=false" in text
    assert "func azure functionapp publish" in text
    assert "az keyvault secret set" in text


def test_opentelemetry_is_set_up_as_documented_for_python() -> None:
    """host.json "telemetryMode": "OpenTelemetry", and the worker hands each invocation's trace context on."""
    host = json.loads((ROOT / "host.json").read_text())
    assert host["telemetryMode"] == "OpenTelemetry"
    settings = app_settings()
    assert settings["PYTHON_ENABLE_OPENTELEMETRY"] == "true"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in settings
    assert "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY" not in settings  # the app configures the distro itself


def _doc_table_names(section: str) -> set[str]:
    """Every backticked name in the first column of the tables under ``### <section>`` of deploy.md."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    part = text.split(f"\n### {section}\n", 1)[1].split("\n### ", 1)[0].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", part, flags=re.MULTILINE)
    return {name for cell in first_cells for name in re.findall(r"`([A-Za-z_]+)`", cell)}


def test_deploy_doc_parameters_table_names_every_main_bicep_parameter() -> None:
    documented = _doc_table_names("Parameters")
    declared = set(parse(MAIN)["parameters"])
    assert not sorted(declared - documented), f"deploy.md does not document {sorted(declared - documented)}"
    assert not sorted(documented - declared), f"deploy.md documents unknown {sorted(documented - declared)}"


def test_deploy_doc_app_settings_table_names_every_app_setting_the_template_sets() -> None:
    documented = _doc_table_names("App settings")
    deployed = set(app_settings())
    assert not sorted(deployed - documented), f"deploy.md does not document {sorted(deployed - documented)}"
    assert not sorted(documented - deployed), f"deploy.md documents unset {sorted(documented - deployed)}"
