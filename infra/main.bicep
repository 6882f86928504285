// hsm-access-governor: the function app, its state, its events, and the least-privilege access of its
// own identity. Deployed into the governor's resource group (by `azd up`, see azure.yaml); the governed
// HSM already exists (possibly in another resource group) and is only referenced. The HSM's local RBAC
// role for the service is set by hsm-bootstrap.sh, because local RBAC is data plane and not reachable
// from ARM templates. The Event Grid subscription into the app's events-submit trigger is in
// inbound-subscription.bicep, deployed after the code: Event Grid refuses a subscription to a function
// that is not published yet ("Destination endpoint not found").

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

@description('The azd environment this deployment belongs to (tagged on every resource).')
param environmentName string = namePrefix

@description('\'false\' creates the review-link key in Key Vault; \'true\' (set by the preprovision hook when the secret exists) keeps it, so redeploying never invalidates links already sent.')
@allowed(['true', 'false'])
param reviewLinkKeysPresent string = 'false'

// Two random GUIDs (244 random bits) make the review-link key when the template creates it. newGuid() is
// only allowed as a parameter default; @secure() keeps the value out of the deployment history, and no
// output carries it. Never pass these parameters yourself.
@secure()
param reviewLinkKeySeed1 string = newGuid()
@secure()
param reviewLinkKeySeed2 string = newGuid()

@description('Notifications: \'on\' sets the settings below (each feature still needs its own values), \'off\' sets none, so no mail, Teams card or review link is sent.')
@allowed(['on', 'off'])
param notifications string = 'off'

@description('Where browsers reach the app (review links); empty: the function app\'s own https host name.')
param publicBaseUrl string = ''

@description('SMTP relay for email notifications; empty: no email.')
param smtpHost string = ''
param smtpPort int = 587
@description('Sender of notification emails, e.g. "HSM access <hsm-access@contoso.com>".')
param smtpFrom string = ''
@description('SMTP user name; its password goes in the Key Vault secret smtp-password.')
param smtpUser string = ''

@description('Teams Workflows webhooks: app-setting name (as the policy names it) to the Key Vault secret holding the URL, e.g. { TEAMS_WEBHOOK_URL: \'teams-webhook-url\' }.')
param teamsWebhookSecrets object = {}

@description('The storage account the HSM\'s diagnostic setting sends its AuditEvent logs to (e.g. contosologstorage); empty: the audit log is not read (no usage evidence).')
param auditLogStorageAccountName string = ''

@description('Resource group of that storage account.')
param auditLogStorageResourceGroup string = resourceGroup().name

@description('Its Event Grid system topic: created under this name, or an existing one reused when auditLogSystemTopicExists is true (an account has at most one).')
param auditLogSystemTopicName string = '${namePrefix}-hsm-audit-log'
param auditLogSystemTopicExists bool = false

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageName = take('${namePrefix}st${suffix}', 24)
var deploymentContainer = 'deployments'

// Built-in Azure roles the service's identity receives, each on one resource only.
var roles = {
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // the Functions host: leases, timers, deployment package (Blob Data Reader on the log account: audit-log-source.bicep)
  storageQueueDataContributor: '974c5e8b-45b9-4653-ba55-5f855dd0fb88' // revocation and reconciliation queues
  storageTableDataContributor: '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3' // ledger, reconciliation runs, outbox
  eventGridDataSender: 'd5a91429-5739-47e2-a06b-3470a27159e7' // lifecycle events to the topic
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6' // review-link keys, SMTP password, webhook URLs
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // telemetry to Application Insights (local auth is off)
}

var tags = { 'azd-env-name': environmentName }
var readsAuditLog = !empty(auditLogStorageAccountName)
// The blob trigger's connection (functions/evidence.ts): identity-based, as AzureWebJobsStorage.
var auditLogSettings = readsAuditLog ? [
  { name: 'AUDIT_LOGS_STORAGE__blobServiceUri', value: 'https://${auditLogStorageAccountName}.blob.${environment().suffixes.storage}' }
  { name: 'AUDIT_LOGS_STORAGE__queueServiceUri', value: 'https://${auditLogStorageAccountName}.queue.${environment().suffixes.storage}' }
  { name: 'AUDIT_LOGS_STORAGE__credential', value: 'managedidentity' }
  { name: 'AUDIT_LOGS_STORAGE__clientId', value: identity.properties.clientId }
] : []
var reviewLinkKeysSecret = 'review-link-keys'
var notificationsOn = notifications == 'on'
var notificationSettings = notificationsOn ? concat(
  [{ name: 'PUBLIC_BASE_URL', value: empty(publicBaseUrl) ? 'https://${namePrefix}-func-${suffix}.azurewebsites.net' : publicBaseUrl }],
  empty(smtpHost) ? [] : concat(
    [
      { name: 'SMTP_HOST', value: smtpHost }
      { name: 'SMTP_PORT', value: string(smtpPort) }
      { name: 'SMTP_FROM', value: smtpFrom }
    ],
    empty(smtpUser) ? [] : [
      { name: 'SMTP_USER', value: smtpUser }
      { name: 'SMTP_PASSWORD', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=smtp-password)' }
    ]
  ),
  map(items(teamsWebhookSecrets), (webhook) => { name: webhook.key, value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${webhook.value})' })
) : []

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-id'
  location: location
  tags: tags
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  tags: tags
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
  tags: tags
  properties: {
    sku: { name: 'PerGB2018' }
    retentionInDays: 90
  }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai'
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logs.id
    DisableLocalAuth: true
  }
}

// The operators' view of the service's metrics (infra/workbook.json; docs/observability.md).
resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'governor-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: '${namePrefix}: HSM access governor'
    category: 'workbook'
    sourceId: insights.id
    serializedData: loadTextContent('workbook.json')
  }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: take('${namePrefix}kv${suffix}', 24)
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    enablePurgeProtection: true
  }
}

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: '${namePrefix}-events'
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
  }
}

// Access requests raised as events arrive on a topic of their own: the systems allowed to raise them get
// "EventGrid Data Sender" there, and so can never publish on the topic SIEMs read the service's own
// lifecycle events from.
resource requestTopic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: '${namePrefix}-requests'
  location: location
  tags: tags
  properties: {
    inputSchema: 'CloudEventSchemaV1_0'
    disableLocalAuth: true
    minimumTlsVersionAllowed: '1.2'
  }
}

resource reviewLinkKeys 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (reviewLinkKeysPresent == 'false') {
  parent: vault
  name: reviewLinkKeysSecret
  properties: {
    value: replace('${reviewLinkKeySeed1}${reviewLinkKeySeed2}', '-', '')
    contentType: 'HMAC keys of review links, comma-separated, the current one first'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan'
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${namePrefix}-func-${suffix}'
  location: location
  kind: 'functionapp,linux'
  tags: union(tags, { 'azd-service-name': 'api' })
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
      runtime: { name: 'node', version: '22' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      appSettings: concat([
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.properties.clientId }
        // The portal answers / (ADR 0020), not the host's landing page.
        { name: 'AzureWebJobsDisableHomepage', value: 'true' }
        { name: 'AZURE_CLIENT_ID', value: identity.properties.clientId }
        { name: 'AZURE_TENANT_ID', value: tenant().tenantId }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.properties.clientId};Authorization=AAD' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'POLICY_FILE', value: 'policy/policy.yaml' }
        { name: 'HSM_URL', value: 'https://${hsmName}.managedhsm.azure.net' }
        { name: 'API_AUDIENCE', value: apiAudience }
        { name: 'SERVICE_OBJECT_ID', value: identity.properties.principalId }
        { name: 'BOT_APP_ID', value: identity.properties.clientId }
        { name: 'RECONCILE_SCHEDULE', value: reconcileSchedule }
        { name: 'HSM_REQUESTS_PER_SECOND', value: string(hsmRequestsPerSecond) }
        { name: 'EVENTGRID_TOPIC_ENDPOINT', value: topic.properties.endpoint }
        { name: 'EVENT_SOURCE', value: '/hsm-access-governor/${hsmName}' }
        { name: 'ARM_SUBSCRIPTION_ID', value: subscription().subscriptionId }
        { name: 'REVIEW_LINK_KEYS', value: '@Microsoft.KeyVault(VaultName=${vault.name};SecretName=${reviewLinkKeysSecret})' }
      ], notificationSettings, auditLogSettings)
    }
  }
  // The first start resolves the Key Vault references: the secret and the right to read it come first.
  dependsOn: [reviewLinkKeys, secretsReader, storageAccess]
}

// App Service Authentication validates callers' tokens and sets the x-ms-client-principal headers the
// app reads (and drops any a client sent). Anonymous requests still reach the app, which refuses them
// itself except on /api/health and on the Event Grid webhook (protected by its system key).
// The Teams bot (docs/teams.md): single-tenant, its app id is the app's managed identity, so there is
// no client secret; the Bot Connector calls the function app's /api/messages.
resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: '${namePrefix}-bot-${suffix}'
  location: 'global'
  kind: 'azurebot'
  tags: tags
  sku: { name: 'F0' }
  properties: {
    displayName: 'HSM access governor'
    endpoint: 'https://${app.properties.defaultHostName}/api/messages'
    msaAppId: identity.properties.clientId
    msaAppType: 'UserAssignedMSI'
    msaAppMSIResourceId: identity.id
    msaAppTenantId: tenant().tenantId
    disableLocalAuth: true
  }
}

resource botTeams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
    properties: { isEnabled: true }
  }
}

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

resource metricsPublisher 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, identity.id, roles.monitoringMetricsPublisher)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
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

module auditLogSource 'audit-log-source.bicep' = if (readsAuditLog) {
  name: 'hsm-audit-log-source'
  scope: resourceGroup(auditLogStorageResourceGroup)
  params: {
    storageAccountName: auditLogStorageAccountName
    location: location
    principalId: identity.properties.principalId
    systemTopicName: auditLogSystemTopicName
    createSystemTopic: !auditLogSystemTopicExists
    tags: tags
  }
}

// Outputs become azd environment values (the hooks and hsm-bootstrap.sh read them). None is a secret.
output FUNCTION_APP_NAME string = app.name
output FUNCTION_APP_HOST_NAME string = app.properties.defaultHostName
output SERVICE_PRINCIPAL_ID string = identity.properties.principalId
output HSM_NAME string = hsmName
output EVENTGRID_TOPIC_ENDPOINT string = topic.properties.endpoint
@description('Where other systems raise access requests (grant them EventGrid Data Sender here, and name their source in the policy).')
output ACCESS_REQUEST_TOPIC_ENDPOINT string = requestTopic.properties.endpoint
output ACCESS_REQUEST_TOPIC_NAME string = requestTopic.name
output ACCESS_REQUEST_TOPIC_ID string = requestTopic.id
output KEY_VAULT_NAME string = vault.name
output APPLICATION_INSIGHTS_NAME string = insights.name
@description('The log storage account\'s system topic (empty when the audit log is not read); the postdeploy hook subscribes the app\'s blob trigger to it.')
output AUDIT_LOG_SYSTEM_TOPIC_NAME string = readsAuditLog ? auditLogSystemTopicName : ''
output AUDIT_LOG_STORAGE_RESOURCE_GROUP string = auditLogStorageResourceGroup
