// The Event Grid subscription that brings access requests raised as events into the app's events-submit
// trigger. Deployed after the code is published (azure.yaml's postdeploy hook, infra/hooks/postdeploy.sh):
// Event Grid validates an AzureFunction destination when the subscription is created and refuses one
// whose function does not exist yet ("Destination endpoint not found"), so it cannot be in main.bicep.

targetScope = 'resourceGroup'

@description('The function app (main.bicep output FUNCTION_APP_NAME).')
param functionAppName string

@description('The topic access requests are raised on (main.bicep output ACCESS_REQUEST_TOPIC_NAME).')
param requestTopicName string

@description('Name of the Event Grid subscription that brings access-request events into the app (the policy decides which sources it trusts).')
param eventSubscriptionName string = 'access-request-submissions'

resource app 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource requestTopic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: requestTopicName
}

resource inboundRequests 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = {
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

output eventSubscriptionId string = inboundRequests.id
