#!/usr/bin/env bash
# Makes the policy's groups work in a real tenant (Microsoft Entra ID, which ARM templates don't reach):
#   1. the API's app registration emits security groups in tokens (groupMembershipClaims: SecurityGroup),
#      unless it already emits groups (SecurityGroup, All or ApplicationGroup are kept as they are);
#   2. the service's managed identity may read group memberships in Microsoft Graph (application
#      permission GroupMember.Read.All), for callers whose token has too many groups to list them
#      (the groups overage: `_claim_names` past 200 groups, `hasgroups` in the implicit flow).
# With --with-member-names it also grants User.Read.All, which Graph needs to show the names of a
# group's members (without it, members come with their object id only).
# Run once after `azd up` by an Entra administrator who may change the registration and grant
# Microsoft Graph application permissions (Privileged Role Administrator or Global Administrator):
#   infra/entra-groups.sh [--with-member-names] [API_CLIENT_ID SERVICE_PRINCIPAL_OBJECT_ID]
# Without arguments it reads API_CLIENT_ID and SERVICE_PRINCIPAL_ID from the azd environment. It says
# what it will do, does it (idempotently), then reads everything back and fails if it is not so.
set -euo pipefail
with_names=false
if [ "${1:-}" = "--with-member-names" ]; then with_names=true; shift; fi
from_azd() { azd env get-value "$1" 2>/dev/null || true; }
client_id="${1:-$(from_azd API_CLIENT_ID)}"
principal="${2:-$(from_azd SERVICE_PRINCIPAL_ID)}"
[ -n "$client_id" ] || { echo "usage: $0 [--with-member-names] API_CLIENT_ID SERVICE_PRINCIPAL_OBJECT_ID (or run inside the azd project after azd up)" >&2; exit 2; }
[ -n "$principal" ] || { echo "the service principal's object id is missing (azd output SERVICE_PRINCIPAL_ID)" >&2; exit 2; }
GRAPH_APP_ID=00000003-0000-0000-c000-000000000000
permissions=(GroupMember.Read.All)
if [ "$with_names" = true ]; then permissions+=(User.Read.All); fi

cat <<PLAN
In the tenant this will:
  1. set groupMembershipClaims of the app registration $client_id to SecurityGroup, if it emits no groups yet
  2. grant the service's identity $principal the Microsoft Graph application permission(s): ${permissions[*]}
and then read both back to check them.
PLAN

claims="$(az ad app show --id "$client_id" --query groupMembershipClaims -o tsv)"
case "$claims" in
  SecurityGroup|All|ApplicationGroup) echo "groupMembershipClaims is already $claims: kept." ;;
  *) az ad app update --id "$client_id" --set groupMembershipClaims=SecurityGroup ;;
esac

graph_sp="$(az ad sp show --id "$GRAPH_APP_ID" --query id -o tsv)"
assignments_url="https://graph.microsoft.com/v1.0/servicePrincipals/$principal/appRoleAssignments"
granted() {
  az rest --method GET --url "$assignments_url" --query "value[?resourceId=='$graph_sp' && appRoleId=='$1'].id" -o tsv
}
for permission in "${permissions[@]}"; do
  role="$(az ad sp show --id "$GRAPH_APP_ID" --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)"
  [ -n "$role" ] || { echo "Microsoft Graph has no application permission $permission" >&2; exit 1; }
  if [ -z "$(granted "$role")" ]; then
    az rest --method POST --url "$assignments_url" --headers 'Content-Type=application/json' \
      --body "{\"principalId\":\"$principal\",\"resourceId\":\"$graph_sp\",\"appRoleId\":\"$role\"}" >/dev/null
  fi
done

# Check.
claims="$(az ad app show --id "$client_id" --query groupMembershipClaims -o tsv)"
case "$claims" in
  SecurityGroup|All|ApplicationGroup) ;;
  *) echo "FAILED: groupMembershipClaims of $client_id is '$claims'" >&2; exit 1 ;;
esac
for permission in "${permissions[@]}"; do
  role="$(az ad sp show --id "$GRAPH_APP_ID" --query "appRoles[?value=='$permission' && contains(allowedMemberTypes, 'Application')].id | [0]" -o tsv)"
  [ -n "$(granted "$role")" ] || { echo "FAILED: $principal does not hold $permission on Microsoft Graph" >&2; exit 1; }
done
echo "OK: tokens for $client_id carry groups ($claims); $principal holds ${permissions[*]} on Microsoft Graph."
echo "The platform caches a managed identity's tokens: a new grant can take hours to show in them (the app fails closed until then, logging why)."
