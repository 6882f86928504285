#!/usr/bin/env sh
# azd preprovision hook: tells main.bicep whether the review-link key already exists, so that the
# first provision creates it and a later one keeps it (links already sent stay valid). It asks ARM
# (control plane, which the deployer's Contributor can read), never for the secret's value.
set -eu
present=false
if [ -n "${KEY_VAULT_NAME:-}" ] && [ -n "${AZURE_RESOURCE_GROUP:-}" ] && [ -n "${AZURE_SUBSCRIPTION_ID:-}" ]; then
  secret="/subscriptions/${AZURE_SUBSCRIPTION_ID}/resourceGroups/${AZURE_RESOURCE_GROUP}/providers/Microsoft.KeyVault/vaults/${KEY_VAULT_NAME}/secrets/review-link-keys"
  if az resource show --ids "$secret" --api-version 2023-07-01 --query id -o tsv >/dev/null 2>&1; then present=true; fi
fi
azd env set REVIEW_LINK_KEYS_PRESENT "$present"
if [ "$present" = true ]; then
  echo "The review-link key exists in ${KEY_VAULT_NAME}: provisioning keeps it."
else
  echo "No review-link key yet: provisioning creates one in the service's Key Vault."
fi
