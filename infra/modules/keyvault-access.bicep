// Grants the function app's identity "Key Vault Secrets User" (read secret values, nothing else)
// on the existing vault. Deployed into the vault's resource group, which may differ from the app's.
// The vault must use the Azure RBAC permission model (enableRbacAuthorization: true).

@description('Name of the existing Key Vault.')
param keyVaultName string

@description('Principal id of the function app identity.')
param principalId string

// Key Vault Secrets User: get/list secrets (data plane), no write, no keys or certificates.
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource secretsUser 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, principalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output keyVaultId string = vault.id
output keyVaultUri string = vault.properties.vaultUri
