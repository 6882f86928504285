// The Event Grid subscription that brings the HSM's AuditEvent blobs into the app's blob trigger
// (functions/evidence.ts, app.storageBlob with source 'EventGrid'). Deployed into the log storage
// account's resource group after the code is published (infra/hooks/postdeploy.sh): Event Grid
// validates the webhook when the subscription is created, and the blobs extension answers that
// handshake only once the function exists. The webhook is the extension's, with its system key:
// https://{app}/runtime/webhooks/blobs?functionName=Host.Functions.{name}&code={blobs_extension key}.

targetScope = 'resourceGroup'

@description('The function app (main.bicep output FUNCTION_APP_NAME).')
param functionAppName string

@description('Resource group of the function app.')
param functionAppResourceGroup string

@description('The log storage account\'s system topic (main.bicep output AUDIT_LOG_SYSTEM_TOPIC_NAME).')
param systemTopicName string

@description('The blob-triggered function (functions/evidence.ts).')
param functionName string = 'audit-ingest'

param eventSubscriptionName string = 'hsm-audit-log-to-governor'

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
  scope: resourceGroup(functionAppResourceGroup)
}

resource systemTopic 'Microsoft.EventGrid/systemTopics@2022-06-15' existing = {
  name: systemTopicName
}

resource auditLogBlobs 'Microsoft.EventGrid/systemTopics/eventSubscriptions@2022-06-15' = {
  parent: systemTopic
  name: eventSubscriptionName
  properties: {
    // The blobs extension reads Event Grid schema deliveries.
    eventDeliverySchema: 'EventGridSchema'
    destination: {
      endpointType: 'WebHook'
      properties: {
        endpointUrl: 'https://${app.properties.defaultHostName}/runtime/webhooks/blobs?functionName=Host.Functions.${functionName}&code=${listKeys('${app.id}/host/default', '2024-04-01').systemKeys.blobs_extension}'
        maxEventsPerBatch: 1
      }
    }
    filter: {
      includedEventTypes: ['Microsoft.Storage.BlobCreated']
      // The diagnostic setting's container only (its PT1H.json blobs).
      subjectBeginsWith: '/blobServices/default/containers/insights-logs-auditevent/'
      subjectEndsWith: '/PT1H.json'
    }
    retryPolicy: { maxDeliveryAttempts: 30, eventTimeToLiveInMinutes: 1440 }
  }
}

output eventSubscriptionId string = auditLogBlobs.id
