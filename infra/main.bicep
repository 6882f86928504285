// hsm-access-governor: the function app, its state, its events, and the least-privilege access of its
// own identity. Deployed into the governor's resource group; the governed HSM already exists (possibly
// in another resource group) and is only referenced. The HSM's local RBAC role for the service is set
// by hsm-bootstrap.sh, because local RBAC is data plane and not reachable from ARM templates.

targetScope = 'resourceGroup'

@description('Prefix of every resource name (3 to 11 lower-case letters or digits).')
@minLength(3)
@maxLength(11)
param namePrefix string

param location string = resourceGroup().location

@description('Name of the governed Managed HSM (Microsoft.KeyVault/managedHSMs).')
param hsmName string

@description('Resource group of the governed Managed HSM.')
param hsmResourceGroup string = resourceGroup().name

@description('Application (client) id of the Entra app registration that callers get tokens for.')
param apiClientId string

@description('Audience of the callers\' tokens, e.g. api://hsm-access-governor.')
param apiAudience string = 'api://hsm-access-governor'

@description('Azure role definition ids (GUIDs) the service may assign and remove on the management plane. Empty: the management plane is not governed.')
param governedAzureRoleIds array = [
  '18500a29-7fe2-46b2-a342-b16a415e101d' // Managed HSM Contributor
]

@description('Allow PIM schedule requests (Entra ID P2) on the management plane; set it when the policy\'s azureRbac.mode is pim.')
param usePimScheduleRequests bool = false

@description('NCRONTAB schedule of the nightly reconciliation (UTC).')
param reconcileSchedule string = '0 0 2 * * *'

@description('Pace of the reconciliation\'s HSM calls, kept under the HSM\'s throttling limits.')
param hsmRequestsPerSecond int = 5

@description('Name of the Event Grid subscription that brings access-request events into the app (the policy decides which sources it trusts).')
param eventSubscriptionName string = 'access-request-submissions'

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageName = take('${namePrefix}st${suffix}', 24)
var deploymentContainer = 'deployments'

// Built-in Azure roles the service's identity receives, each on one resource only.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // the Functions host: leases, timers, deployment package
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // revocation and reconciliation queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // ledger, reconciliation runs, outbox
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7' // lifecycle events to the topic
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // review-link keys, SMTP password, webhook URLs
}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: location
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  kind: 'StorageV2'
  sku: { name: 'Standard_ZRS' }
  properties: {
    allowSharedKeyAccess: false
    allowBlobPublicAccess: false
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    defaultToOAuthAuthentication: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: deploymentContainer
}

resource tableService 'Microsoft.Storage/storageAccounts/tableServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queueService 'Microsoft.Storage/storageAccounts/queueServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource queues 'Microsoft.Storage/storageAccounts/queueServices/queues@2023-05-01' = [for name in ['revocations', 'reconcile-runs']: {
  parent: queueService
  name: name
}]

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs'
  location: location
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai'
  location: location
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${namePrefix}kv${suffix}', 24)
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
  }
}

resource topic 'Microsoft.EventGrid/topics@2024-06-01-preview' = {
  name: '${namePrefix}-events'
  location: location
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
  }
}

// Access requests raised as events arrive on a topic of their own: the systems allowed to raise them get
// "EventGrid Data Sender" there, and so can never publish on the topic SIEMs read the service's own
// lifecycle events from.
resource requestTopic 'Microsoft.EventGrid/topics@2024-06-01-preview' = {
  name: '${namePrefix}-requests'
  location: location
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${namePrefix}-func-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identity.id}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identity.id
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainer}'
          authentication: { type: 'UserAssignedIdentity', userAssignedIdentityResourceId: identity.id }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: 40, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '20' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'AZURE_TENANT_ID', value: tenant().tenantId }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'POLICY_FILE', value: 'policy/policy.yaml' }
        { name: 'HSM_URL', value: 'https://${hsmName}.managedhsm.azure.net' }
        { name: 'API_AUDIENCE', value: apiAudience }
        { name: 'SERVICE_OBJECT_ID', value: identity.properties.principalId }
        { name: 'RECONCILE_SCHEDULE', value: reconcileSchedule }
        { name: 'HSM_REQUESTS_PER_SECOND', value: string(hsmRequestsPerSecond) }
        { name: 'EVENTGRID_TOPIC_ENDPOINT', value: topic.properties.endpoint }
        { name: 'EVENT_SOURCE', value: '/hsm-access-governor/${hsmName}' }
        { name: 'ARM_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'REVIEW_LINK_KEYS', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=review-link-keys)' }
      ]
    }
  }
}

// App Service Authentication validates callers' tokens and sets the x-ms-client-principal headers the
// app reads (and drops any a client sent). Anonymous requests still reach the app, which refuses them
// itself except on /api/health and on the Event Grid webhook (protected by its system key).
resource auth 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'authsettingsV2'
  properties: {
    platform: { enabled: true }
    globalValidation: {
      requireAuthentication: false
      unauthenticatedClientAction: 'AllowAnonymous'
    }
    identityProviders: {
      azureActiveDirectory: {
        enabled: true
        registration: {
          clientId: apiClientId
          openIdIssuer: 'https://sts.windows.net/${subscription().tenantId}/v2.0'
        }
        validation: { allowedAudiences: [apiAudience, 'api://${apiClientId}'] }
      }
    }
    login: { tokenStore: { enabled: false } }
  }
}

resource inboundRequests 'Microsoft.EventGrid/topics/eventSubscriptions@2024-06-01-preview' = {
  parent: requestTopic
  name: eventSubscriptionName
  properties: {
    eventDeliverySchema: 'CloudEventSchemaV1_0'
    destination: {
      endpointType: 'AzureFunction'
      properties: { resourceId: '${app.id}/functions/events-submit', maxEventsPerBatch: 1 }
    }
    filter: { includedEventTypes: ['HsmAccess.Request.Submit.v1'] }
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for role in [roles.storageBlobDataOwner, roles.storageQueueDataContributor, roles.storageTableDataContributor]: {
  scope: storage
  name: guid(storage.id, identity.id, role)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', role)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}]

resource eventSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, identity.id, roles.eventGridDataSender)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

resource secretsReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, identity.id, roles.keyVaultSecretsUser)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)
    principalId: identity.properties.principalId
    principalType: 'ServicePrincipal'
  }
}

module hsmManagementPlane 'hsm-management-plane.bicep' = if (!empty(governedAzureRoleIds)) {
  name: 'hsm-management-plane'
  scope: resourceGroup(hsmResourceGroup)
  params: {
    hsmName: hsmName
    principalId: identity.properties.principalId
    governedAzureRoleIds: governedAzureRoleIds
    usePimScheduleRequests: usePimScheduleRequests
  }
}

output functionAppName string = app.name
output functionAppHostName string = app.properties.defaultHostName
output servicePrincipalId string = identity.properties.principalId
output eventGridTopicEndpoint string = topic.properties.endpoint
@description('Where other systems raise access requests (grant them EventGrid Data Sender here, and name their source in the policy).')
output accessRequestTopicEndpoint string = requestTopic.properties.endpoint
output accessRequestTopicId string = requestTopic.id
output keyVaultName string = vault.name
