// Grants the function app's identity "Reader" on the deployment's subscription, so reconcile_timer
// can list the subscription's Event Hubs namespaces with Azure Resource Graph, and "Monitoring
// Reader", so health_timer can read each namespace's IncomingMessages metric (read-only: no data
// plane, no secrets, no writes). Deployed at subscription scope from main.bicep (parameter
// assignSubscriptionReader); the deployer needs Microsoft.Authorization/roleAssignments/write there
// (Owner, User Access Administrator or Role Based Access Control Administrator). Other subscriptions
// of AZURE_SUBSCRIPTION_IDS: assign Reader with `az role assignment create` (docs/deploy.md).
targetScope = 'subscription'

@description('Principal id of the function app identity.')
param principalId string

// Reader: read resources (what Resource Graph returns); no writes, no list-keys or other actions.
var readerRoleId = 'acdd72a7-3385-48ef-bd42-f606fba81ae7'

resource reader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, readerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', readerRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Reader: read metrics (IncomingMessages of the namespaces, per hub) for dataflow health.
var monitoringReaderRoleId = '43d0d8ad-25c7-4714-9337-8ba259a9fe05'

resource monitoringReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(subscription().id, principalId, monitoringReaderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', monitoringReaderRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}
