// ibpicker on Azure (ADR-009): one always-on bot container on Container Apps, its journal
// segments in Blob Storage, its secrets in Key Vault, its image in Container Registry, its
// logs in Log Analytics; one user-assigned identity with the three least-privilege roles it
// needs. Deployed per environment (dev, staging, prod) from infra/main.<env>.parameters.json
// by .github/workflows/deploy.yml; docs/deploy.md walks through the first deployment.
//
// checkov policies skipped on purpose: each skip is a `checkov:skip=ID: reason` comment inside
// the resource it concerns (where checkov reads it). Two reasons cover them all:
// - No VNet: a Consumption Container Apps environment without a VNet reaches Storage, Key Vault
//   and the registry over their public endpoints. Access is by Entra ID only (shared keys and the
//   registry admin user are off, RBAC everywhere), which ADR-009's cost target accepts; a VNet
//   with private endpoints is the upgrade path (docs/deploy.md).
// - ADR-009's SKUs: Container Registry Basic (no Premium features) and Storage Standard_LRS.
//
// Past one replica (issue 15, off by default): journalBackend='postgresql' adds an Azure Database
// for PostgreSQL Flexible Server that the app's identity signs in to with Entra ID (password sign-in
// disabled, TLS required) and replaces the single app by one app per shard group (replicaCount,
// shardCount, shardAssignment). With the defaults the deployment is exactly ADR-009's: the new
// resources are all conditional on it and the single app is unchanged
// (tests/integration/infra/test_bicep_postgres.py compares it with the ADR's template).

targetScope = 'resourceGroup'

@description('Deployment environment; decides the name suffix and the app\'s IBPICKER_ENVIRONMENT.')
@allowed([
  'dev'
  'staging'
  'prod'
])
param environmentName string

@description('Azure region for every resource.')
param location string = resourceGroup().location

@description('Container App name from ADR-009\'s environment table (ibpicker-bot-dev, ibpicker-bot-staging, ibpicker-bot).')
@minLength(2)
@maxLength(32)
param containerAppName string

@description('Key Vault name from ADR-009\'s environment table (ibpicker-kv-dev, ibpicker-kv-staging, ibpicker-kv).')
@minLength(3)
@maxLength(24)
param keyVaultName string

@description('Full image reference to run, e.g. <registry>.azurecr.io/ibpicker:<git sha>.')
param containerImage string = ''

@description('Create the Container App. False for the one-time bootstrap that creates the registry before the first image exists.')
param deployApp bool = true

@description('Blob container that holds the journal segments, manifest and lease blob.')
param journalContainerName string = 'ibpicker-journal'

@description('Days a deleted or overwritten blob stays recoverable.')
@minValue(1)
@maxValue(365)
param blobSoftDeleteDays int = 14

@description('Days a deleted Key Vault stays recoverable (purge protection keeps it that long).')
@minValue(7)
@maxValue(90)
param keyVaultSoftDeleteDays int = 90

@description('Daily ingestion cap of the Log Analytics workspace in GB (cost guard).')
param logDailyQuotaGb int = 1

@description('Where the journal lives: sqlite (ADR-009: one replica, the file on its disk, segments in Blob) or postgresql (a Flexible Server shared by the bot replicas; docs/deploy.md says when to switch).')
@allowed([
  'sqlite'
  'postgresql'
])
param journalBackend string = 'sqlite'

@description('postgresql only: bot replicas, one Container App each running its shard group.')
@minValue(1)
@maxValue(16)
param replicaCount int = 1

@description('postgresql only: Discord shards in total (IBPICKER_SHARDS); at least replicaCount.')
@minValue(1)
@maxValue(64)
param shardCount int = 1

@description('postgresql only: IBPICKER_SHARD_IDS per replica (e.g. [\'0-1\', \'2-3\']), replicaCount entries; empty: contiguous groups, the last one taking the remainder.')
param shardAssignment array = []

@description('postgresql only: the server\'s compute SKU (Burstable B1ms is the smallest).')
param postgresSkuName string = 'Standard_B1ms'

@description('postgresql only: the tier of postgresSkuName.')
@allowed([
  'Burstable'
  'GeneralPurpose'
  'MemoryOptimized'
])
param postgresSkuTier string = 'Burstable'

@description('postgresql only: storage in GiB (it grows automatically past this).')
@minValue(32)
param postgresStorageGb int = 32

@description('postgresql only: days of point-in-time restore.')
@minValue(7)
@maxValue(35)
param postgresBackupRetentionDays int = 7

// prod carries no suffix, as in ADR-009's table.
var suffix = (environmentName == 'prod') ? '' : '-${environmentName}'
// Storage accounts and registries take lowercase letters and digits only, and their names are
// global; the resource-group hash keeps them unique and stable across redeployments.
var globalToken = take(uniqueString(subscription().id, resourceGroup().id), 8)
var registryName = 'ibpicker${environmentName}${globalToken}'
var storageAccountName = take('ibpicker${environmentName}${globalToken}', 24)
var healthPort = 8080
var dataMountPath = '/data'
var tags = {
  application: 'ibpicker'
  environment: environmentName
}
var usePostgres = journalBackend == 'postgresql'
// Server names are global DNS names (<name>.postgres.database.azure.com), hence the hash.
var postgresServerName = 'ibpicker-pg${suffix}-${globalToken}'
var postgresDatabaseName = 'ibpicker'
// Shard groups: shardAssignment as given, else contiguous blocks of shardCount / replicaCount
// shards (integer division), the last block taking the remainder. Parenthesised in full: the
// tests evaluate it through pycep, whose operator precedence is not Bicep's.
var shardsPerReplica = shardCount / replicaCount
var shardGroups = [for i in range(0, replicaCount): empty(shardAssignment) ? '${i * shardsPerReplica}-${(i == (replicaCount - 1)) ? (shardCount - 1) : (((i + 1) * shardsPerReplica) - 1)}' : shardAssignment[i]]

// Built-in role definitions (ids are the same in every tenant).
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: 'ibpicker-logs${suffix}'
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: 30
    workspaceCapping: {
      dailyQuotaGb: logDailyQuotaGb
    }
  }
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: 'ibpicker-id${suffix}'
  location: location
  tags: tags
}

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: Basic SKU (ADR-009) has no private link; pulls need Entra ID (admin user off).
  // checkov:skip=CKV_AZURE_163: Defender image scanning is a subscription plan, not a Basic registry setting.
  // checkov:skip=CKV_AZURE_166: image quarantine is Premium-only; ADR-009 fixes Basic for one image.
  name: registryName
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    // Pull by the app's managed identity (AcrPull), push by the deployer's Entra ID identity.
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
  }
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  // checkov:skip=CKV_AZURE_35: no VNet on the Consumption plan, so no egress to allow-list; access is Entra ID only (shared key off).
  // checkov:skip=CKV_AZURE_59: same reason as CKV_AZURE_35; anonymous blob access is off (allowBlobPublicAccess: false).
  // checkov:skip=CKV_AZURE_206: ADR-009 fixes Standard_LRS; the bot's local journal is the second copy, versioning + soft delete guard deletes.
  // checkov:skip=CKV_AZURE_43: the name is computed (take(..., 24) of lowercase letters, digits and uniqueString), which the check cannot evaluate.
  name: storageAccountName
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_LRS'
  }
  properties: {
    accessTier: 'Hot'
    supportsHttpsTrafficOnly: true
    minimumTlsVersion: 'TLS1_2'
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    allowCrossTenantReplication: false
    defaultToOAuthAuthentication: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
  properties: {
    isVersioningEnabled: true
    deleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: blobSoftDeleteDays
    }
  }
}

resource journalContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: journalContainerName
  properties: {
    publicAccess: 'None'
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  // checkov:skip=CKV_AZURE_109: no VNet on the Consumption plan; secrets are read by one identity holding Key Vault Secrets User.
  // checkov:skip=CKV_AZURE_189: same reason as CKV_AZURE_109: public endpoint, Entra ID RBAC only.
  name: keyVaultName
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: keyVaultSoftDeleteDays
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
    networkAcls: {
      bypass: 'AzureServices'
      defaultAction: 'Allow'
    }
  }
}

resource acrPull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(registry.id, identity.id, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

// Scoped to the journal container, not the account: the bot can touch nothing else.
resource journalWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(journalContainer.id, identity.id, storageBlobDataContributorRoleId)
  scope: journalContainer
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(vault.id, identity.id, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appEnvironment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: 'ibpicker-env${suffix}'
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
    zoneRedundant: false
  }
}

resource app 'Microsoft.App/containerApps@2024-03-01' = if (deployApp && !usePostgres) {
  name: containerAppName
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    managedEnvironmentId: appEnvironment.id
    configuration: {
      // One revision at a time; no ingress: the bot only dials out (Discord gateway, providers).
      activeRevisionsMode: 'Single'
      registries: [
        {
          server: registry.properties.loginServer
          identity: identity.id
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'bot'
          image: containerImage
          args: [
            'bot'
          ]
          resources: {
            cpu: json('0.25')
            memory: '0.5Gi'
          }
          env: [
            {
              name: 'IBPICKER_ENVIRONMENT'
              value: environmentName
            }
            {
              name: 'IBPICKER_DATA_DIR'
              value: dataMountPath
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identity.properties.clientId
            }
            {
              name: 'KEY_VAULT_URL'
              value: vault.properties.vaultUri
            }
            {
              name: 'IBPICKER_BLOB_ACCOUNT_URL'
              value: storage.properties.primaryEndpoints.blob
            }
            {
              name: 'IBPICKER_BLOB_CONTAINER'
              value: journalContainer.name
            }
          ]
          // Startup allows a slow cold restore of journal segments (10 s + 10 x 30 s; the platform
          // caps failureThreshold at 10) before liveness starts counting. Readiness is on /healthz, not /readyz: a new revision must
          // become ready while the old one still holds the writer lease, or the platform never
          // retires the old one (ADR-013); /readyz stays the operator's view.
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: healthPort
              }
              initialDelaySeconds: 10
              periodSeconds: 30
              failureThreshold: 10
              timeoutSeconds: 5
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: healthPort
              }
              periodSeconds: 30
              failureThreshold: 3
              timeoutSeconds: 5
            }
            {
              type: 'Readiness'
              httpGet: {
                path: '/healthz'
                port: healthPort
              }
              periodSeconds: 15
              failureThreshold: 3
              timeoutSeconds: 5
            }
          ]
          volumeMounts: [
            {
              volumeName: 'data'
              mountPath: dataMountPath
            }
          ]
        }
      ]
      // Exactly one replica: a Discord bot must never run twice and must stay connected.
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
      volumes: [
        {
          // Scratch disk: the journal's durable copy is in Blob Storage, restored on start.
          name: 'data'
          storageType: 'EmptyDir'
        }
      ]
    }
  }
  dependsOn: [
    acrPull
    journalWriter
    secretsReader
  ]
}

// -- Past one replica: the journal on PostgreSQL, the bot sharded (journalBackend='postgresql') --

resource postgres 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = if (usePostgres) {
  name: postgresServerName
  location: location
  tags: tags
  sku: {
    name: postgresSkuName
    tier: postgresSkuTier
  }
  properties: {
    version: '16'
    // Entra ID only: the app's managed identity signs in with a token (events/pg_auth.py); no
    // password exists, so none can leak (no administratorLogin either).
    authConfig: {
      activeDirectoryAuth: 'Enabled'
      passwordAuth: 'Disabled'
      tenantId: subscription().tenantId
    }
    storage: {
      storageSizeGB: postgresStorageGb
      autoGrow: 'Enabled'
    }
    // Point-in-time restore within the region; geo-redundant backup would double its storage.
    backup: {
      backupRetentionDays: postgresBackupRetentionDays
      geoRedundantBackup: 'Disabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    // Public access limited by the firewall rule below to Azure's own addresses (a Consumption
    // environment has no fixed outbound IP); sign-in is Entra ID only and TLS is required.
    // Private access (VNet integration) is the upgrade path, in docs/deploy.md.
    network: {
      publicNetworkAccess: 'Enabled'
    }
  }
}

// The app's identity is the server's Entra ID administrator: its token signs in as the role of
// the same name (the identity's), which creates the journal's tables. (A module: see its header.)
module postgresAdmin 'modules/postgres-admin.bicep' = if (usePostgres) {
  name: 'ibpicker-pg-admin${suffix}'
  params: {
    serverName: postgres.name
    principalId: identity.properties.principalId
    principalName: identity.name
    tenantId: subscription().tenantId
  }
}

resource postgresTls 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = if (usePostgres) {
  parent: postgres
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    postgresAdmin // one change to the server at a time
  ]
}

resource postgresDatabase 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = if (usePostgres) {
  parent: postgres
  name: postgresDatabaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    postgresTls
  ]
}

// 0.0.0.0-0.0.0.0 is Azure's "allow Azure services" rule: connections from Azure's addresses
// only, never from the internet at large.
resource postgresAzureAccess 'Microsoft.DBforPostgreSQL/flexibleServers/firewallRules@2024-08-01' = if (usePostgres) {
  parent: postgres
  name: 'AllowAllAzureServicesAndResourcesWithinAzureIps'
  properties: {
    startIpAddress: '0.0.0.0'
    endIpAddress: '0.0.0.0'
  }
  dependsOn: [
    postgresDatabase
  ]
}

// No password in the URL: the app signs in with its identity's token (events/pg_auth.py).
// verify-full against the image's CA bundle (Debian's ca-certificates, in the python slim base),
// so the token is only ever sent to the real server. The file, not `sslrootcert=system`: the
// psycopg binary wheel's OpenSSL looks for "system" CAs in a folder of its own build.
var journalUrl = 'postgresql://${identity.name}@${postgresServerName}.postgres.database.azure.com:5432/${postgresDatabaseName}?sslmode=verify-full&sslrootcert=/etc/ssl/certs/ca-certificates.crt'

// One app per shard group, each exactly one replica running its shards (Discord must see each
// shard once); they share the PostgreSQL journal, so the single-writer lease does not apply.
// (A loop over an empty list when off, rather than a condition: the same, in fewer constructs.)
var shardAppGroups = (deployApp && usePostgres) ? shardGroups : []

resource shardApps 'Microsoft.App/containerApps@2024-03-01' = [for (shardIds, i) in shardAppGroups: {
    name: '${containerAppName}-${i}'
    location: location
    tags: tags
    identity: {
      type: 'UserAssigned'
      userAssignedIdentities: {
        '${identity.id}': {}
      }
    }
    properties: {
      managedEnvironmentId: appEnvironment.id
      configuration: {
        activeRevisionsMode: 'Single'
        registries: [
          {
            server: registry.properties.loginServer
            identity: identity.id
          }
        ]
      }
      template: {
        containers: [
          {
            name: 'bot'
            image: containerImage
            args: [
              'bot'
            ]
            resources: {
              cpu: json('0.25')
              memory: '0.5Gi'
            }
            env: [
              {
                name: 'IBPICKER_ENVIRONMENT'
                value: environmentName
              }
              {
                name: 'IBPICKER_DATA_DIR'
                value: dataMountPath
              }
              {
                name: 'AZURE_CLIENT_ID'
                value: identity.properties.clientId
              }
              {
                name: 'KEY_VAULT_URL'
                value: vault.properties.vaultUri
              }
              {
                name: 'IBPICKER_BLOB_ACCOUNT_URL'
                value: storage.properties.primaryEndpoints.blob
              }
              {
                name: 'IBPICKER_BLOB_CONTAINER'
                value: journalContainer.name
              }
              {
                name: 'IBPICKER_JOURNAL_URL'
                value: journalUrl
              }
              {
                name: 'IBPICKER_SHARDS'
                value: string(shardCount)
              }
              {
                name: 'IBPICKER_SHARD_IDS'
                value: shardIds
              }
              {
                name: 'IBPICKER_REPLICA_ID'
                value: '${containerAppName}-${i}'
              }
            ]
            // As the single app's: /healthz, not /readyz, so a new revision can start while the
            // old one still runs.
            probes: [
              {
                type: 'Startup'
                httpGet: {
                  path: '/healthz'
                  port: healthPort
                }
                initialDelaySeconds: 10
                periodSeconds: 30
                failureThreshold: 10
                timeoutSeconds: 5
              }
              {
                type: 'Liveness'
                httpGet: {
                  path: '/healthz'
                  port: healthPort
                }
                periodSeconds: 30
                failureThreshold: 3
                timeoutSeconds: 5
              }
              {
                type: 'Readiness'
                httpGet: {
                  path: '/healthz'
                  port: healthPort
                }
                periodSeconds: 15
                failureThreshold: 3
                timeoutSeconds: 5
              }
            ]
            volumeMounts: [
              {
                volumeName: 'data'
                mountPath: dataMountPath
              }
            ]
          }
        ]
        scale: {
          minReplicas: 1
          maxReplicas: 1
        }
        volumes: [
          {
            // Scratch: the replica's DuckDB analytics, rebuilt from the shared journal.
            name: 'data'
            storageType: 'EmptyDir'
          }
        ]
      }
    }
    dependsOn: [
      acrPull
      journalWriter
      secretsReader
      postgresAdmin
      postgresTls
      postgresDatabase
      postgresAzureAccess
    ]
  }
]

output environmentName string = environmentName
output containerAppName string = containerAppName
output registryName string = registry.name
output registryLoginServer string = registry.properties.loginServer
output keyVaultName string = vault.name
output keyVaultUri string = vault.properties.vaultUri
output storageAccountName string = storage.name
output blobAccountUrl string = storage.properties.primaryEndpoints.blob
output journalContainerName string = journalContainer.name
output identityClientId string = identity.properties.clientId
output identityPrincipalId string = identity.properties.principalId
output logAnalyticsWorkspaceName string = logAnalytics.name
// The bot's Container Apps, which the workflow rolls to a new image: the single app, or one per
// shard group on the PostgreSQL journal.
output botAppNames array = [for (shardIds, i) in shardGroups: usePostgres ? '${containerAppName}-${i}' : containerAppName]
