#!/usr/bin/env sh
# azd postdeploy hook: once the code is published, subscribes the access-request topic to the app's
# events-submit function (infra/inbound-subscription.bicep) and, when the HSM's audit log is read, the
# log account's system topic to the audit-ingest blob trigger (infra/audit-log-subscription.bicep).
# Event Grid checks the destination when the subscription is created, which is why this cannot be
# part of provisioning.
set -eu
: "${AZURE_RESOURCE_GROUP:?azd environment value AZURE_RESOURCE_GROUP}"
: "${FUNCTION_APP_NAME:?run azd provision first (output FUNCTION_APP_NAME)}"
: "${ACCESS_REQUEST_TOPIC_NAME:?run azd provision first (output ACCESS_REQUEST_TOPIC_NAME)}"
here="$(cd "$(dirname "$0")/.." && pwd)"

# The host indexes the new package a little after the deployment returns: wait until it lists the trigger.
wait_for_function() {
  attempt=0
  until az functionapp function show -g "$AZURE_RESOURCE_GROUP" -n "$FUNCTION_APP_NAME" --function-name "$1" --query name -o tsv >/dev/null 2>&1; do
    attempt=$((attempt + 1))
    if [ "$attempt" -ge 30 ]; then
      echo "$1 is not listed on $FUNCTION_APP_NAME after 5 minutes: is the package deployed, and does GET /api/health answer?" >&2
      exit 1
    fi
    sleep 10
  done
}

wait_for_function events-submit
az deployment group create -g "$AZURE_RESOURCE_GROUP" -n inbound-subscription \
  -f "$here/inbound-subscription.bicep" \
  -p functionAppName="$FUNCTION_APP_NAME" requestTopicName="$ACCESS_REQUEST_TOPIC_NAME" \
  --query properties.outputs.eventSubscriptionId.value -o tsv
echo "Access requests raised on $ACCESS_REQUEST_TOPIC_NAME now reach $FUNCTION_APP_NAME/events-submit."

# The HSM's audit log (docs/evidence.md), through the blobs extension's webhook with its system key.
if [ -n "${AUDIT_LOG_SYSTEM_TOPIC_NAME:-}" ]; then
  wait_for_function audit-ingest
  az deployment group create -g "${AUDIT_LOG_STORAGE_RESOURCE_GROUP:-$AZURE_RESOURCE_GROUP}" -n audit-log-subscription \
    -f "$here/audit-log-subscription.bicep" \
    -p functionAppName="$FUNCTION_APP_NAME" functionAppResourceGroup="$AZURE_RESOURCE_GROUP" systemTopicName="$AUDIT_LOG_SYSTEM_TOPIC_NAME" \
    --query properties.outputs.eventSubscriptionId.value -o tsv
  echo "The HSM's AuditEvent blobs now reach $FUNCTION_APP_NAME/audit-ingest."
fi
