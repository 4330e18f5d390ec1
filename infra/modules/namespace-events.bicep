// Event Grid: resource-group (or subscription) system topic whose Event Hubs namespace and event
// hub create and delete events go to the on_namespace_event function (a namespace: its connection;
// an event hub: its dataflow). Deployed into the resource group that holds
// the Event Hubs namespaces (the topic's home for both scopes; a subscription topic lives in one
// resource group too). Needs the function code published first: Event Grid validates the endpoint.

@description('Which events the topic sees: the namespaces of one resource group, or of the whole subscription.')
@allowed([
  'resourceGroup'
  'subscription'
])
param scope string = 'resourceGroup'

@description('System topic name. A source has at most one system topic: if one exists already, pass its name.')
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

var functionName = 'on_namespace_event'

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = {
  name: systemTopicName
  location: 'global'
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    source: (scope == 'subscription') ? subscription().id : resourceGroup().id
    topicType: (scope == 'subscription') ? 'Microsoft.Resources.Subscriptions' : 'Microsoft.Resources.ResourceGroups'
  }
}

resource toFunction 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: 'eventhubs-namespace-events'
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
        'Microsoft.Resources.ResourceWriteSuccess'
        'Microsoft.Resources.ResourceDeleteSuccess'
      ]
      advancedFilters: [
        {
          operatorType: 'StringIn'
          key: 'data.operationName'
          values: [
            'Microsoft.EventHub/namespaces/write'
            'Microsoft.EventHub/namespaces/delete'
            'Microsoft.EventHub/namespaces/eventhubs/write'
            'Microsoft.EventHub/namespaces/eventhubs/delete'
          ]
        }
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
