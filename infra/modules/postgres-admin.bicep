// The PostgreSQL Flexible Server's Entra ID administrator (main.bicep, journalBackend='postgresql').
// A module of its own because the administrator's name is the principal's object id, and Bicep
// takes a resource name only from values known when the deployment starts: the id of an identity
// created by the same deployment is known later, and a module parameter may carry it.

@description('The Flexible Server (created by main.bicep).')
param serverName string

@description('Object (principal) id of the identity made administrator.')
param principalId string

@description('The identity\'s name: the PostgreSQL role it signs in as.')
param principalName string

@description('Entra ID tenant of the identity.')
param tenantId string

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: serverName
}

resource admin 'Microsoft.DBforPostgreSQL/flexibleServers/administrators@2024-08-01' = {
  parent: server
  name: principalId
  properties: {
    principalType: 'ServicePrincipal'
    principalName: principalName
    tenantId: tenantId
  }
}
