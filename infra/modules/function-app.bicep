// The Python 3.13 function app on the Flex Consumption plan (FC1, Linux), running as a
// user-assigned managed identity, with every app setting of the contract (docs/deploy.md).

@description('Azure region of the plan and the app.')
param location string

@description('Function app name (also the host name: <name>.azurewebsites.net).')
param functionAppName string

@description('Flex Consumption plan name.')
param planName string

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity (AZURE_CLIENT_ID, AzureWebJobsStorage__clientId).')
param identityClientId string

@description('Storage account of the host and the records (identity-based AzureWebJobsStorage).')
param storageAccountName string

@description('URL of the blob container holding the deployment package.')
param deploymentContainerUrl string

@description('Application Insights connection string (not a secret: local auth is disabled).')
param appInsightsConnectionString string

@description('Key Vault URI, e.g. https://contoso-kv.vault.azure.net/.')
param keyVaultUrl string

@description('Python version of the Flex Consumption runtime: 3.13 (recommended by Azure Functions) or 3.11; both are tested.')
@allowed([
  '3.13'
  '3.11'
])
param pythonVersion string = '3.13'

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Zone-redundant plan (only in regions where Flex Consumption supports availability zones).')
param zoneRedundant bool = false

// ---- contract settings (see docs/deploy.md, "App settings") ----
param adobeSandboxName string
param adobeImsUrl string
param adobePlatformUrl string
param adobeScopes string
param adobeClientIdSecret string
param adobeClientSecretSecret string
param adobeOrgIdSecret string
param eventHubsSecretTemplate string
param eventHubsAadSecretTemplate string
param connectionsTableName string
@description('Notification queue; empty leaves CONNECTION_EVENTS_QUEUE unset (no notifications).')
param connectionEventsQueueName string = ''
param secretCacheSeconds int
param deleteConnectionOnNamespaceDelete bool
param verifyDelaySeconds int
@description('Subscriptions the app manages (comma-separated); empty leaves AZURE_SUBSCRIPTION_IDS unset (every subscription).')
param azureSubscriptionIds string = ''
@description('Resource Manager endpoint of Resource Graph (AZURE_RESOURCE_MANAGER_URL); a trailing slash is dropped.')
param azureResourceManagerUrl string = environment().resourceManager
@description('NCRONTAB schedule of reconcile_timer (RECONCILE_SCHEDULE: the host resolves %RECONCILE_SCHEDULE%, so it is always set).')
param reconcileSchedule string = '0 */30 * * * *'
@description('RECONCILE_DELETE: mark records of namespaces gone from a complete listing deleted.')
param reconcileDelete bool = false
@description('RECONCILE_MAX_DELETE: most namespaces one reconcile pass may mark deleted.')
param reconcileMaxDelete int = 10
@description('RECONCILE_GONE_GRACE_SECONDS: a record younger than this is never called gone.')
param reconcileGoneGraceSeconds int = 900
@description('HUB_VISIBLE_AFTER_SECONDS: an event hub Adobe does not list yet is retried, not refused, this long.')
param hubVisibleAfterSeconds int = 300
@description('NCRONTAB schedule of health_timer (HEALTH_SCHEDULE: the host resolves %HEALTH_SCHEDULE%, so it is always set).')
param healthSchedule string = '0 */15 * * * *'
@description('HEALTH_WINDOW_MINUTES: window a dataflow\'s health is judged over.')
param healthWindowMinutes int = 180
@description('HEALTH_LAG_MINUTES: how far Adobe\'s counts may trail the hub\'s.')
param healthLagMinutes int = 60
@description('HEALTH_MAX_FAILED_RATIO: failed records / input above which a flow is failing (a decimal string).')
param healthMaxFailedRatio string = '0.005'
@description('HEALTH_REENABLE: enable a disabled flow again when its base connection verifies.')
param healthReenable bool = false
@description('ADOBE_IO_EVENTS_KEY_URL: the only host Adobe I/O Events public keys are read from.')
param adobeIoEventsKeyUrl string = 'https://static.adobeioevents.com'
param dataflowsTableName string
@description('Dataset of automatic dataflows; empty leaves DATAFLOW_DATASET_ID unset (no automatic dataflows).')
param dataflowDatasetId string = ''
param dataflowDataType string
param dataflowConsumerGroup string
param dataflowReset string

@description('Tags applied to every resource.')
param tags object = {}

var baseAppSettings = [
  // Host storage and the app's records/queues: identity-based, no connection string, no key.
  {
    name: 'AzureWebJobsStorage__accountName'
    value: storageAccountName
  }
  {
    name: 'AzureWebJobsStorage__credential'
    value: 'managedidentity'
  }
  {
    name: 'AzureWebJobsStorage__clientId'
    value: identityClientId
  }
  // Azure SDK credentials in the app code (ManagedIdentityCredential with this client id).
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'KEY_VAULT_URL'
    value: keyVaultUrl
  }
  {
    name: 'ADOBE_SANDBOX_NAME'
    value: adobeSandboxName
  }
  {
    name: 'ADOBE_IMS_URL'
    value: adobeImsUrl
  }
  {
    name: 'ADOBE_PLATFORM_URL'
    value: adobePlatformUrl
  }
  {
    name: 'ADOBE_SCOPES'
    value: adobeScopes
  }
  {
    name: 'ADOBE_CLIENT_ID_SECRET'
    value: adobeClientIdSecret
  }
  {
    name: 'ADOBE_CLIENT_SECRET_SECRET'
    value: adobeClientSecretSecret
  }
  {
    name: 'ADOBE_ORG_ID_SECRET'
    value: adobeOrgIdSecret
  }
  {
    name: 'EVENTHUBS_SECRET_TEMPLATE'
    value: eventHubsSecretTemplate
  }
  {
    name: 'EVENTHUBS_AAD_SECRET_TEMPLATE'
    value: eventHubsAadSecretTemplate
  }
  {
    name: 'CONNECTIONS_TABLE'
    value: connectionsTableName
  }
  {
    name: 'SECRET_CACHE_SECONDS'
    value: string(secretCacheSeconds)
  }
  {
    name: 'DELETE_CONNECTION_ON_NAMESPACE_DELETE'
    value: deleteConnectionOnNamespaceDelete ? 'true' : 'false'
  }
  {
    name: 'VERIFY_DELAY_SECONDS'
    value: string(verifyDelaySeconds)
  }
  // Reconcile (reconcile_timer): Resource Graph listing of the namespaces of AZURE_SUBSCRIPTION_IDS.
  {
    name: 'AZURE_RESOURCE_MANAGER_URL'
    value: endsWith(azureResourceManagerUrl, '/') ? substring(azureResourceManagerUrl, 0, length(azureResourceManagerUrl) - 1) : azureResourceManagerUrl
  }
  {
    name: 'RECONCILE_SCHEDULE'
    value: reconcileSchedule
  }
  {
    name: 'RECONCILE_DELETE'
    value: reconcileDelete ? 'true' : 'false'
  }
  {
    name: 'RECONCILE_MAX_DELETE'
    value: string(reconcileMaxDelete)
  }
  {
    name: 'RECONCILE_GONE_GRACE_SECONDS'
    value: string(reconcileGoneGraceSeconds)
  }
  {
    name: 'HUB_VISIBLE_AFTER_SECONDS'
    value: string(hubVisibleAfterSeconds)
  }
  // Dataflow health (health_timer, adobe_events_http): Azure Monitor metrics need Monitoring Reader.
  {
    name: 'HEALTH_SCHEDULE'
    value: healthSchedule
  }
  {
    name: 'HEALTH_WINDOW_MINUTES'
    value: string(healthWindowMinutes)
  }
  {
    name: 'HEALTH_LAG_MINUTES'
    value: string(healthLagMinutes)
  }
  {
    name: 'HEALTH_MAX_FAILED_RATIO'
    value: healthMaxFailedRatio
  }
  {
    name: 'HEALTH_REENABLE'
    value: healthReenable ? 'true' : 'false'
  }
  {
    name: 'ADOBE_IO_EVENTS_KEY_URL'
    value: adobeIoEventsKeyUrl
  }
  // Dataflows (an event hub into a Platform dataset).
  {
    name: 'DATAFLOWS_TABLE'
    value: dataflowsTableName
  }
  {
    name: 'DATAFLOW_DATA_TYPE'
    value: dataflowDataType
  }
  {
    name: 'DATAFLOW_CONSUMER_GROUP'
    value: dataflowConsumerGroup
  }
  {
    name: 'DATAFLOW_RESET'
    value: dataflowReset
  }
  // Telemetry, sent with the identity (Entra ID) since the component refuses local auth.
  {
    name: 'APPLICATIONINSIGHTS_CONNECTION_STRING'
    value: appInsightsConnectionString
  }
  {
    name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING'
    value: 'ClientId=${identityClientId};Authorization=AAD'
  }
  // OpenTelemetry as Microsoft documents it for Python: host.json "telemetryMode": "OpenTelemetry",
  // and the worker passes each invocation's trace context to the app's spans.
  {
    name: 'PYTHON_ENABLE_OPENTELEMETRY'
    value: 'true'
  }
]

// CONNECTION_EVENTS_QUEUE is "unset" by default in the contract: only present when a queue is named.
var eventsQueueSettings = empty(connectionEventsQueueName) ? [] : [
  {
    name: 'CONNECTION_EVENTS_QUEUE'
    value: connectionEventsQueueName
  }
]

// DATAFLOW_DATASET_ID is "unset" by default: without it a new event hub gets no automatic dataflow.
var dataflowDatasetSettings = empty(dataflowDatasetId) ? [] : [
  {
    name: 'DATAFLOW_DATASET_ID'
    value: dataflowDatasetId
  }
]

// AZURE_SUBSCRIPTION_IDS unset means every subscription's namespace events are applied.
var subscriptionSettings = empty(azureSubscriptionIds) ? [] : [
  {
    name: 'AZURE_SUBSCRIPTION_IDS'
    value: azureSubscriptionIds
  }
]

// Flex Consumption takes the runtime from functionAppConfig.runtime and refuses the
// FUNCTIONS_WORKER_RUNTIME / FUNCTIONS_EXTENSION_VERSION settings, so they are not set here.
var appSettings = concat(baseAppSettings, eventsQueueSettings, dataflowDatasetSettings, subscriptionSettings)

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  //checkov:skip=CKV_AZURE_225:Availability zones for Flex Consumption exist only in some regions; the zoneRedundant parameter turns them on where available.
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
    zoneRedundant: zoneRedundant
  }
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' = {
  //checkov:skip=CKV_AZURE_17:Callers (Event Grid, Logic Apps, API Management) authenticate with function keys over TLS; requiring client certificates would lock them out.
  //checkov:skip=CKV_AZURE_212:Flex Consumption scales from zero on demand; a minimum instance count for failover does not apply to a serverless plan.
  //checkov:skip=CKV_AZURE_213:The app has no health endpoint of its own; Flex Consumption manages instance health, and failures surface in Application Insights.
  //checkov:skip=CKV_AZURE_222:Event Grid and Logic Apps deliver over the public endpoint; every HTTP function requires a function key and HTTPS. Put the app behind API Management or a private endpoint to close it.
  name: functionAppName
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    clientCertEnabled: false
    publicNetworkAccess: 'Enabled'
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      remoteDebuggingEnabled: false
      cors: {
        allowedOrigins: []
      }
      appSettings: appSettings
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

// No FTP or basic-auth (publishing profile) deployments: publish with Entra ID (az login).
resource ftpPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmPolicy 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: functionApp
  name: 'scm'
  properties: {
    allow: false
  }
}

output functionAppId string = functionApp.id
output functionAppName string = functionApp.name
output defaultHostName string = functionApp.properties.defaultHostName
