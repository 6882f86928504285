#!/usr/bin/env bash
# Gives the service's identity its local RBAC role on the governed HSM (data plane: ARM templates can't).
# Run once after `azd up`, by a member of the HSM's security team (Managed HSM Administrator at /):
#   infra/hsm-bootstrap.sh [HSM_NAME SERVICE_PRINCIPAL_OBJECT_ID]
# Without arguments it reads HSM_NAME and SERVICE_PRINCIPAL_ID from the azd environment. It says what it
# will do, does it (idempotently: running it twice changes nothing), and then checks the result, failing
# if the role or its assignment is not what hsm-governor-role.json says.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
from_azd() { azd env get-value "$1" 2>/dev/null || true; }
hsm="${1:-$(from_azd HSM_NAME)}"
principal="${2:-$(from_azd SERVICE_PRINCIPAL_ID)}"
[ -n "$hsm" ] || { echo "usage: $0 HSM_NAME SERVICE_PRINCIPAL_OBJECT_ID (or run inside the azd project after azd up)" >&2; exit 2; }
[ -n "$principal" ] || { echo "the service principal's object id is missing (azd output SERVICE_PRINCIPAL_ID)" >&2; exit 2; }
role_file="$here/hsm-governor-role.json"
role_id="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["name"])' "$role_file")"
wanted_actions="$(python3 -c 'import json,sys; print(" ".join(sorted(json.load(open(sys.argv[1]))["dataActions"])))' "$role_file")"
# One assignment at /, named deterministically so that running this twice changes nothing.
assignment="$(python3 -c 'import uuid,sys; print(uuid.uuid5(uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8"), "hsm-access-governor/"+sys.argv[1]+"/"+sys.argv[2]))' "$hsm" "$principal")"

cat <<PLAN
On Managed HSM '$hsm' this will:
  1. create or update the custom role 'HSM Access Governor' ($role_id) with exactly these data actions:
       $wanted_actions
     (role assignments read/write/delete, role definitions read, keys read: no key operation at all)
  2. assign it at scope / to the service's identity $principal (assignment $assignment), once
and then read both back to check them.
PLAN

if az keyvault role definition show --hsm-name "$hsm" --name "$role_id" >/dev/null 2>&1; then
  az keyvault role definition update --hsm-name "$hsm" --role-definition "@$role_file" >/dev/null
else
  az keyvault role definition create --hsm-name "$hsm" --role-definition "@$role_file" >/dev/null
fi
assigned() {
  az keyvault role assignment list --hsm-name "$hsm" --scope / --assignee-object-id "$principal" \
    --query "[?roleDefinitionId && ends_with(roleDefinitionId, '$role_id')].name" -o tsv
}
if [ -z "$(assigned)" ]; then
  az keyvault role assignment create --hsm-name "$hsm" --scope / --role "$role_id" --name "$assignment" \
    --assignee-object-id "$principal" --assignee-principal-type ServicePrincipal >/dev/null
fi

# Check what the HSM now says, not what the commands returned.
actual_actions="$(az keyvault role definition show --hsm-name "$hsm" --name "$role_id" --query 'permissions[0].dataActions' -o tsv | sort | tr '\n' ' ' | sed 's/ $//')"
if [ "$actual_actions" != "$wanted_actions" ]; then
  echo "CHECK FAILED: the role on $hsm grants '$actual_actions', expected '$wanted_actions'" >&2
  exit 1
fi
if [ -z "$(assigned)" ]; then
  echo "CHECK FAILED: $principal holds no assignment of $role_id at / on $hsm" >&2
  exit 1
fi
echo "Checked: the service's identity $principal holds 'HSM Access Governor' ($role_id) at / on $hsm, with exactly the data actions above."
echo "Next: GET https://<FUNCTION_APP_HOST_NAME>/api/health should answer 200 with hsm ok."
