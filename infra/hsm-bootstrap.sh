#!/usr/bin/env bash
# Gives the service's identity its local RBAC role on the governed HSM (data plane; ARM templates can't).
# Run once, by a member of the HSM's security team (Managed HSM Administrator at /), after main.bicep:
#   infra/hsm-bootstrap.sh HSM_NAME SERVICE_PRINCIPAL_OBJECT_ID
# The role id matches the policy's customRoles entry, so reconciliation recognises the assignment.
set -euo pipefail
hsm="${1:?HSM name}"
principal="${2:?object id of the service managed identity (output servicePrincipalId)}"
here="$(cd "$(dirname "$0")" && pwd)"
role_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$here/hsm-governor-role.json")"

if az keyvault role definition show --hsm-name "$hsm" --name "$role_id" >/dev/null 2>&1; then
  az keyvault role definition update --hsm-name "$hsm" --role-definition "@$here/hsm-governor-role.json" >/dev/null
else
  az keyvault role definition create --hsm-name "$hsm" --role-definition "@$here/hsm-governor-role.json" >/dev/null
fi

# One assignment at /, named deterministically so that running this twice changes nothing.
assignment="$(python3 -c 'import uuid,sys; print(uuid.uuid5(uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "hsm-access-governor/"+sys.argv[1]+"/"+sys.argv[2]))' "$hsm" "$principal")"
if ! az keyvault role assignment list --hsm-name "$hsm" --scope / --assignee-object-id "$principal" --query "[?roleDefinitionId && ends_with(roleDefinitionId, '$role_id')]" -o tsv | grep -q .; then
  az keyvault role assignment create --hsm-name "$hsm" --scope / --role "$role_id" --name "$assignment" \
    --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal >/dev/null
fi
echo "The service's identity $principal holds 'HSM Access Governor' ($role_id) at / on $hsm."
