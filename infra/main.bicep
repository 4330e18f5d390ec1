// Azure Event Hubs -> Adobe Experience Platform connector: the whole deployment.
//
// Deploys, into the target resource group:
//   - a user-assigned managed identity the function app runs as;
//   - the app's storage account (identity-only: shared-key access off) with the request queue,
//     the records table and the deployment-package container;
//   - Log Analytics + Application Insights (Entra ID ingestion);
//   - a Python 3.13 function app on the Flex Consumption plan (FC1) with every contract setting;
//   - least-privilege role assignments: Storage Blob Data Owner, Storage Queue Data Contributor
//     and Storage Table Data Contributor on the account; Key Vault Secrets User on the vault;
//     (assignSubscriptionReader) Reader on this deployment's subscription when it is in
//     azureSubscriptionIds (reconcile lists its namespaces with Resource Graph; other listed
//     subscriptions: az role assignment create, docs/deploy.md);
//   - (deployEventSubscriptions) Event Grid system topics and subscriptions: Event Hubs namespace
//     and event hub create/delete -> on_namespace_event; Key Vault secret events -> on_secret_event.
//
// Two phases (docs/deploy.md): Event Grid validates an AzureFunction endpoint when the
// subscription is created, so the functions must exist first:
//   1. az deployment group create ... -p deployEventSubscriptions=false
//   2. func azure functionapp publish <functionAppName> --python
//   3. az deployment group create ... (deployEventSubscriptions defaults to true)
targetScope = 'resourceGroup'

// ---------------------------------------------------------------- naming and placement

@description('Azure region of the app, its storage and monitoring. Must offer Flex Consumption.')
param location string = resourceGroup().location

@description('Short base name used to derive resource names.')
@minLength(3)
@maxLength(20)
param baseName string = 'ehaep'

@description('Function app name (globally unique host name).')
@minLength(2)
@maxLength(60)
param functionAppName string = 'func-${baseName}-${uniqueString(resourceGroup().id)}'

@description('Storage account name (globally unique, 3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string = 'st${take(toLower(replace(baseName, '-', '')), 9)}${uniqueString(resourceGroup().id)}'

@description('Tags applied to every resource.')
param tags object = {
  application: 'eventhubs-aep-connector'
}

// ---------------------------------------------------------------- existing Key Vault

@description('Name of the existing Key Vault holding the Adobe credentials and the Event Hubs secrets. It must use the Azure RBAC permission model.')
param keyVaultName string

@description('Resource group of that Key Vault (defaults to this resource group).')
param keyVaultResourceGroupName string = resourceGroup().name

// ---------------------------------------------------------------- Event Grid wiring

@description('Create the Event Grid system topics and subscriptions. Leave false on the first deployment, before the function code is published.')
param deployEventSubscriptions bool = true

@description('Resource group whose Event Hubs namespaces are watched (and where its system topic lives).')
param eventHubsResourceGroupName string = resourceGroup().name

@description('Watch the namespaces of that resource group only, or of the whole subscription.')
@allowed([
  'resourceGroup'
  'subscription'
])
param namespaceEventsScope string = 'resourceGroup'

@description('Name of the resource-group/subscription system topic; pass the existing one\'s name if the source already has one.')
param namespaceSystemTopicName string = 'evgt-${baseName}-eventhubs'

@description('Name of the Key Vault system topic; pass the existing one\'s name if the vault already has one.')
param keyVaultSystemTopicName string = 'evgt-${keyVaultName}'

@description('Delivery schema of both event subscriptions: EventGridSchema, or CloudEventSchemaV1_0 (CloudEvents 1.0, what Microsoft recommends for new subscriptions). Both functions take either. An existing subscription keeps its schema: to switch, delete the two subscriptions, then deploy.')
@allowed([
  'EventGridSchema'
  'CloudEventSchemaV1_0'
])
param eventDeliverySchema string = 'EventGridSchema'

// ---------------------------------------------------------------- runtime and scale

@description('Python version: 3.13, what Azure Functions recommends (azure-functions 2.x), or 3.11. CI tests both.')
@allowed([
  '3.13'
  '3.11'
])
param pythonVersion string = '3.13'

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int = 100

@description('Memory of each instance in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Zone-redundant Flex Consumption plan (only where the region supports it).')
param zoneRedundant bool = false

@description('Redundancy of the storage account.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param storageSkuName string = 'Standard_ZRS'

// ---------------------------------------------------------------- contract settings

@description('ADOBE_SANDBOX_NAME: default sandbox.')
param adobeSandboxName string = 'prod'

@description('ADOBE_IMS_URL: IMS base URL (https).')
param adobeImsUrl string = 'https://ims-na1.adobelogin.com'

@description('ADOBE_PLATFORM_URL: Platform gateway base URL (https).')
param adobePlatformUrl string = 'https://platform.adobe.io'

@description('ADOBE_SCOPES: OAuth scopes, comma-separated.')
param adobeScopes string = 'openid,AdobeID,read_organizations,additional_info.projectedProductContext,session'

@description('ADOBE_CLIENT_ID_SECRET: Key Vault secret name of the OAuth client id.')
param adobeClientIdSecret string = 'adobe-client-id'

@description('ADOBE_CLIENT_SECRET_SECRET: Key Vault secret name of the OAuth client secret.')
param adobeClientSecretSecret string = 'adobe-client-secret'

@description('ADOBE_ORG_ID_SECRET: Key Vault secret name of the IMS org id.')
param adobeOrgIdSecret string = 'adobe-org-id'

@description('EVENTHUBS_SECRET_TEMPLATE: Key Vault secret name of a namespace\'s SAS connection string.')
param eventHubsSecretTemplate string = 'eventhubs-sas-{namespace}'

@description('EVENTHUBS_AAD_SECRET_TEMPLATE: Key Vault secret name of a namespace\'s AAD credentials JSON.')
param eventHubsAadSecretTemplate string = 'eventhubs-aad-{namespace}'

@description('CONNECTIONS_TABLE: table holding the connection records.')
param connectionsTableName string = 'EventHubsConnections'

@description('CONNECTION_EVENTS_QUEUE: queue for downstream notifications; empty leaves the setting unset.')
param connectionEventsQueueName string = ''

@description('SECRET_CACHE_SECONDS: how long a Key Vault secret is reused in a worker.')
@minValue(0)
param secretCacheSeconds int = 300

@description('DELETE_CONNECTION_ON_NAMESPACE_DELETE: delete the Adobe connection when its namespace is deleted.')
param deleteConnectionOnNamespaceDelete bool = false

@description('VERIFY_DELAY_SECONDS: delay of the verify message after an uncertain create outcome; must exceed HTTP_TIMEOUT_SECONDS (10).')
@minValue(11)
param verifyDelaySeconds int = 120

@description('AZURE_SUBSCRIPTION_IDS: subscriptions the app manages, comma-separated (namespace events from others are ignored); empty leaves the setting unset (every subscription).')
param azureSubscriptionIds string = subscription().subscriptionId

@description('AZURE_RESOURCE_MANAGER_URL: Resource Manager endpoint reconcile queries Resource Graph at (this cloud\'s by default; a trailing slash is dropped).')
param azureResourceManagerUrl string = environment().resourceManager

@description('RECONCILE_SCHEDULE: NCRONTAB schedule of reconcile_timer (six fields, seconds first).')
param reconcileSchedule string = '0 */30 * * * *'

@description('Assign the app\'s identity Reader on this subscription (when it is in azureSubscriptionIds), for reconcile. Needs role-assignment rights on the subscription; false leaves it to you (az role assignment create).')
param assignSubscriptionReader bool = true

@description('RECONCILE_DELETE: mark the records of namespaces gone from a complete reconcile listing deleted (otherwise they are only reported).')
param reconcileDelete bool = false

@description('RECONCILE_MAX_DELETE: most namespaces one reconcile pass may mark deleted; when more are gone it marks none and logs an error.')
param reconcileMaxDelete int = 10

@description('RECONCILE_GONE_GRACE_SECONDS: a record younger than this is never called gone (Resource Graph indexing delay).')
param reconcileGoneGraceSeconds int = 900

@description('HUB_VISIBLE_AFTER_SECONDS: an event hub Adobe does not list yet is retried, not refused, this long after its event.')
param hubVisibleAfterSeconds int = 300
@description('HEALTH_SCHEDULE: NCRONTAB schedule of health_timer (six fields, seconds first).')
param healthSchedule string = '0 */15 * * * *'

@description('HEALTH_REENABLE: enable a dataflow Adobe disabled again (once per window) when its base connection verifies.')
param healthReenable bool = false

@description('Create an Azure Monitor log alert (scheduled query rule on Application Insights) that fires when a dataflow turns failing, stalled or disabled (the "dataflow health: unhealthy" line). Off by default.')
param deployHealthAlert bool = false

@description('Action groups (resource ids) the health alert notifies, e.g. one that pages the on-call; empty: the alert shows in Azure Monitor only. Used with deployHealthAlert.')
param healthAlertActionGroupIds array = []

@description('DATAFLOWS_TABLE: table holding the dataflow records (created by the app on first use).')
param dataflowsTableName string = 'EventHubsDataflows'

@description('DATAFLOW_DATASET_ID: Platform dataset of automatic dataflows for new event hubs, and the default datasetId; empty leaves the setting unset (no automatic dataflows).')
param dataflowDatasetId string = ''

@description('DATAFLOW_DATA_TYPE: default dataType of a dataflow (raw needs a mappingId, so automatic dataflows are xdm).')
@allowed([
  'xdm'
  'raw'
])
param dataflowDataType string = 'xdm'

@description('DATAFLOW_CONSUMER_GROUP: default consumer group of a dataflow (one flow per consumer group and event hub).')
param dataflowConsumerGroup string = '$Default'

@description('DATAFLOW_RESET: default reset of a dataflow: earliest (oldest retained event) or latest.')
@allowed([
  'earliest'
  'latest'
])
param dataflowReset string = 'earliest'

// ---------------------------------------------------------------- resources

var suffix = uniqueString(resourceGroup().id, baseName)
var deploymentContainerName = 'app-package-${take(suffix, 8)}'
var deadLetterContainerName = 'eventgrid-deadletter'

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'id-${baseName}-${take(suffix, 6)}'
  location: location
  tags: tags
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
  scope: resourceGroup(keyVaultResourceGroupName)
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    location: location
    storageAccountName: storageAccountName
    skuName: storageSkuName
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
    requestQueueName: 'eventhubs-connection-requests'
    connectionsTableName: connectionsTableName
    connectionEventsQueueName: connectionEventsQueueName
    principalId: identity.properties.principalId
    tags: tags
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    workspaceName: 'log-${baseName}-${take(suffix, 6)}'
    appInsightsName: 'appi-${baseName}-${take(suffix, 6)}'
    publisherPrincipalId: identity.properties.principalId
    tags: tags
  }
}

module keyVaultAccess 'modules/keyvault-access.bicep' = {
  name: 'keyvault-access'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    principalId: identity.properties.principalId
  }
}

module functionApp 'modules/function-app.bicep' = {
  name: 'function-app'
  params: {
    location: location
    functionAppName: functionAppName
    planName: 'plan-${baseName}-${take(suffix, 6)}'
    identityId: identity.id
    identityClientId: identity.properties.clientId
    storageAccountName: storage.outputs.storageAccountName
    deploymentContainerUrl: storage.outputs.deploymentContainerUrl
    appInsightsConnectionString: monitoring.outputs.connectionString
    keyVaultUrl: vault.properties.vaultUri
    pythonVersion: pythonVersion
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    zoneRedundant: zoneRedundant
    adobeSandboxName: adobeSandboxName
    adobeImsUrl: adobeImsUrl
    adobePlatformUrl: adobePlatformUrl
    adobeScopes: adobeScopes
    adobeClientIdSecret: adobeClientIdSecret
    adobeClientSecretSecret: adobeClientSecretSecret
    adobeOrgIdSecret: adobeOrgIdSecret
    eventHubsSecretTemplate: eventHubsSecretTemplate
    eventHubsAadSecretTemplate: eventHubsAadSecretTemplate
    connectionsTableName: connectionsTableName
    connectionEventsQueueName: connectionEventsQueueName
    secretCacheSeconds: secretCacheSeconds
    deleteConnectionOnNamespaceDelete: deleteConnectionOnNamespaceDelete
    verifyDelaySeconds: verifyDelaySeconds
    azureSubscriptionIds: azureSubscriptionIds
    azureResourceManagerUrl: azureResourceManagerUrl
    reconcileSchedule: reconcileSchedule
    reconcileDelete: reconcileDelete
    reconcileMaxDelete: reconcileMaxDelete
    reconcileGoneGraceSeconds: reconcileGoneGraceSeconds
    hubVisibleAfterSeconds: hubVisibleAfterSeconds
    healthSchedule: healthSchedule
    healthReenable: healthReenable
    dataflowsTableName: dataflowsTableName
    dataflowDatasetId: dataflowDatasetId
    dataflowDataType: dataflowDataType
    dataflowConsumerGroup: dataflowConsumerGroup
    dataflowReset: dataflowReset
    tags: tags
  }
  // The app must be able to read its storage and secrets from its first start.
  dependsOn: [
    keyVaultAccess
  ]
}

// Reader and Monitoring Reader on this subscription, for reconcile's Resource Graph listing and the
// health checks' metrics; only when the subscription is
// one the app manages (none when azureSubscriptionIds names others or is empty), and only when the
// deployer may assign roles there (a subscription-scope deployment needs rights on the subscription).
var managesThisSubscription = contains(split(toLower(replace(azureSubscriptionIds, ' ', '')), ','), toLower(subscription().subscriptionId))

module subscriptionReader 'modules/subscription-reader.bicep' = if (assignSubscriptionReader && managesThisSubscription) {
  name: 'subscription-reader-${take(suffix, 6)}'
  scope: subscription()
  params: {
    principalId: identity.properties.principalId
  }
}

// Paging on dataflow health: a log alert on the unhealthy line (optional).
module healthAlert 'modules/health-alert.bicep' = if (deployHealthAlert) {
  name: 'health-alert'
  params: {
    location: location
    alertName: 'alert-${baseName}-dataflow-unhealthy'
    appInsightsId: monitoring.outputs.appInsightsId
    actionGroupIds: healthAlertActionGroupIds
    tags: tags
  }
}

// ---------------------------------------------------------------- Event Grid (phase 2)

module namespaceEvents 'modules/namespace-events.bicep' = if (deployEventSubscriptions) {
  name: 'namespace-events'
  scope: resourceGroup(eventHubsResourceGroupName)
  params: {
    scope: namespaceEventsScope
    systemTopicName: namespaceSystemTopicName
    functionAppId: functionApp.outputs.functionAppId
    identityId: identity.id
    deadLetterStorageAccountId: storage.outputs.storageAccountId
    deadLetterContainerName: deadLetterContainerName
    eventDeliverySchema: eventDeliverySchema
    tags: tags
  }
}

module keyVaultEvents 'modules/keyvault-events.bicep' = if (deployEventSubscriptions) {
  name: 'keyvault-events'
  scope: resourceGroup(keyVaultResourceGroupName)
  params: {
    keyVaultName: keyVaultName
    systemTopicName: keyVaultSystemTopicName
    functionAppId: functionApp.outputs.functionAppId
    identityId: identity.id
    deadLetterStorageAccountId: storage.outputs.storageAccountId
    deadLetterContainerName: deadLetterContainerName
    eventDeliverySchema: eventDeliverySchema
    tags: tags
  }
}

// ---------------------------------------------------------------- outputs

output functionAppName string = functionApp.outputs.functionAppName
output functionAppHostName string = functionApp.outputs.defaultHostName
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output storageAccountName string = storage.outputs.storageAccountName
output keyVaultUrl string = vault.properties.vaultUri
output appInsightsId string = monitoring.outputs.appInsightsId
output logAnalyticsWorkspaceId string = monitoring.outputs.workspaceId
