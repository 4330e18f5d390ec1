// Event Grid: system topic on the existing Key Vault whose secret events go to the on_secret_event
// function (new secret versions rotate or complete connections; near-expiry is logged). Deployed
// into the vault's resource group. Needs the function code published first.

@description('Name of the existing Key Vault (in this module\'s resource group).')
param keyVaultName string

@description('System topic name. A vault has at most one system topic: if one exists already, pass its name.')
param systemTopicName string

@description('Resource id of the function app.')
param functionAppId string

@description('Resource id of the user-assigned identity Event Grid writes dead letters with.')
param identityId string

@description('Resource id of the storage account holding the dead-letter container.')
param deadLetterStorageAccountId string

@description('Blob container for events Event Grid could not deliver.')
param deadLetterContainerName string

@description('Delivery schema of the event subscription: the Event Grid schema, or CloudEvents 1.0 (Microsoft recommends it for new subscriptions). The function takes both. Event Grid cannot change the schema of an existing subscription: delete it first.')
@allowed([
  'EventGridSchema'
  'CloudEventSchemaV1_0'
])
param eventDeliverySchema string = 'EventGridSchema'

@description('Tags applied to every resource.')
param tags object = {}

var functionName = 'on_secret_event'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  // A Key Vault system topic lives in the vault's region.
  location: vault.location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: vault.id
    topicType: 'Microsoft.KeyVault.vaults'
  }
}

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'keyvault-secret-events'
  properties: {
    eventDeliverySchema: eventDeliverySchema
    destination: {
      endpointType: 'AzureFunction'
      properties: {
        resourceId: '${functionAppId}/functions/${functionName}'
        maxEventsPerBatch: 1
        preferredBatchSizeInKilobytes: 64
      }
    }
    filter: {
      includedEventTypes: [
        'Microsoft.KeyVault.SecretNewVersionCreated'
        'Microsoft.KeyVault.SecretNearExpiry'
      ]
    }
    retryPolicy: {
      maxDeliveryAttempts: 30
      eventTimeToLiveInMinutes: 1440
    }
    deadLetterWithResourceIdentity: {
      identity: {
        type: 'UserAssigned'
        userAssignedIdentity: identityId
      }
      deadLetterDestination: {
        endpointType: 'StorageBlob'
        properties: {
          resourceId: deadLetterStorageAccountId
          blobContainerName: deadLetterContainerName
        }
      }
    }
  }
}

output systemTopicId string = systemTopic.id
output eventSubscriptionName string = toFunction.name
