// The HSM's AuditEvent logs as a source of evidence (docs/evidence.md): on the storage account the HSM's
// diagnostic setting writes to (the seed's contosologstorage), the Event Grid system topic that raises
// Microsoft.Storage.BlobCreated for every append, and read access for the service's identity. The
// subscription from the topic into the app's blob trigger needs the app's published code and its
// blobs_extension key: it is audit-log-subscription.bicep, deployed after the code (postdeploy hook).
// A storage account has at most one system topic: when the account has one already, name it in
// auditLogSystemTopicName and it is reused.

targetScope = 'resourceGroup'

param storageAccountName string
param location string
param principalId string
param systemTopicName string
param createSystemTopic bool = true
param tags object = {}

var storageBlobDataReader = '2a2b9908-6ea1-4ae2-8e65-a410df84e7d1'
var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'

resource logStorage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' = if (createSystemTopic) {
  name: systemTopicName
  location: location
  tags: tags
  properties: {
    source: logStorage.id
    topicType: 'Microsoft.Storage.StorageAccounts'
  }
}

// Reading the AuditEvent blobs (ranged GETs from a checkpoint). Microsoft's table of the blob trigger's
// roles names Blob Data Owner; Reader is given on purpose: the service never writes the evidence it
// reads, so it cannot tamper with it either.
resource logReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: logStorage
  name: guid(logStorage.id, principalId, storageBlobDataReader)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataReader)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

// The blob trigger writes a blob that keeps failing to a poison queue in its connection's account.
resource logQueues 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: logStorage
  name: guid(logStorage.id, principalId, storageQueueDataContributor)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageQueueDataContributor)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}

output blobEndpoint string = logStorage.properties.primaryEndpoints.blob
output systemTopicName string = systemTopicName
