// The function app's storage account: host storage (AzureWebJobsStorage), the Flex Consumption
// deployment package container, the request queue (and its poison queue), the notification queue
// and the records table. Shared-key access is off: everything uses the managed identity.

@description('Azure region of the account.')
param location string

@description('Storage account name (3-24 lowercase letters and digits).')
@minLength(3)
@maxLength(24)
param storageAccountName string

@description('Blob container that holds the Flex Consumption deployment package.')
param deploymentContainerName string

@description('Blob container where Event Grid dead-letters events it could not deliver to the functions.')
param deadLetterContainerName string

@description('Queue the create_connection_queue function listens on (contract name).')
param requestQueueName string = 'eventhubs-connection-requests'

@description('Table holding the connection records (CONNECTIONS_TABLE).')
param connectionsTableName string

@description('Notification queue for downstream automation (CONNECTION_EVENTS_QUEUE); empty: none.')
param connectionEventsQueueName string = ''

@description('Storage redundancy. ZRS keeps the host and the records available through a zone outage.')
@allowed([
  'Standard_LRS'
  'Standard_ZRS'
  'Standard_GRS'
  'Standard_GZRS'
  'Standard_RAGRS'
  'Standard_RAGZRS'
])
param skuName string = 'Standard_ZRS'

@description('Principal id of the function app identity; granted the blob, queue and table data roles.')
param principalId string

@description('Tags applied to every resource.')
param tags object = {}

// Built-in role definition ids (same in every tenant).
var roles = {
  // Host leases, keys and the deployment package (Microsoft's documented role for AzureWebJobsStorage).
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b'
  // Queue trigger (read, delete, poison-queue writes) and the notification queue (send).
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88'
  // Connection records (read, insert, conditional update).
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3'
}

var baseQueueNames = [
  requestQueueName
  '${requestQueueName}-poison'
]
var queueNames = empty(connectionEventsQueueName) ? baseQueueNames : concat(baseQueueNames, array(connectionEventsQueueName))

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  //checkov:skip=CKV_AZURE_35:The Flex Consumption app is not VNet-integrated in this template, so it reaches storage over the public endpoint; access is identity-only (shared key off, RBAC). Add VNet integration and private endpoints to deny public network access.
  //checkov:skip=CKV_AZURE_59:Same reason as CKV_AZURE_35: public network access is needed by a non-VNet-integrated app; no anonymous or key-based access is possible.
  //checkov:skip=CKV_AZURE_43:The name is a parameter (Checkov sees the identifier, not the value); it is constrained to 3-24 characters here and main.bicep derives it from lowercase letters, digits and uniqueString(). Azure rejects any other name.
  //checkov:skip=CKV_AZURE_206:Redundancy is the skuName parameter (default Standard_ZRS, zone-redundant; GZRS/RAGZRS allowed). Checkov cannot evaluate a parameter. Geo-replication is optional: records can be rebuilt (connections are found again in Adobe by their deterministic name) and queue messages are transient.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: skuName
  }
  properties: {
    accessTier: 'Hot'
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    isLocalUserEnabled: false
    isSftpEnabled: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
          keyType: 'Account'
        }
        file: {
          enabled: true
          keyType: 'Account'
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: 7
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: 7
    }
  }
}

resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource deadLetterContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deadLetterContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [
  for queueName in queueNames: {
    parent: queueService
    name: queueName
  }
]

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource connectionsTable 'Microsoft.Storage/storageAccounts/tableServices/tables@2023-05-01' = {
  parent: tableService
  name: connectionsTableName
}

resource blobOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageBlobDataOwner)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource queueContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageQueueDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

resource tableContributor 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(storage.id, principalId, roles.storageTableDataContributor)
  scope: storage
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output storageAccountId string = storage.id
output storageAccountName string = storage.name
output blobEndpoint string = storage.properties.primaryEndpoints.blob
output queueEndpoint string = storage.properties.primaryEndpoints.queue
output tableEndpoint string = storage.properties.primaryEndpoints.table
output deadLetterContainerName string = deadLetterContainer.name
output deploymentContainerUrl string = '${storage.properties.primaryEndpoints.blob}${deploymentContainer.name}'
