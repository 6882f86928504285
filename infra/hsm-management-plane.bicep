// The service's management-plane access on the governed HSM resource: a custom role that can only read,
// create and remove role assignments (and, with PIM, schedule requests), assigned on the HSM resource
// alone, with a delegation condition that limits the roles it may assign or remove to the governed ones.
// Without the condition the service could grant itself Owner; with it, the worst a compromised service
// can do is what the policy already lets it do.

targetScope = 'resourceGroup'

param hsmName string
param principalId string

@description('Role definition ids (GUIDs) the service may assign and remove.')
param governedAzureRoleIds array

@description('Also allow PIM schedule requests (a condition cannot constrain their role, so only when used).')
param usePimScheduleRequests bool = false

resource hsm 'Microsoft.KeyVault/managedHSMs@2023-07-01' existing = {
  name: hsmName
}

var assignmentActions = [
  'Microsoft.Authorization/roleAssignments/read'
  'Microsoft.Authorization/roleAssignments/write'
  'Microsoft.Authorization/roleAssignments/delete'
  'Microsoft.Authorization/roleDefinitions/read'
]
var pimActions = [
  'Microsoft.Authorization/roleAssignmentScheduleRequests/read'
  'Microsoft.Authorization/roleAssignmentScheduleRequests/write'
  'Microsoft.Authorization/roleAssignmentScheduleRequests/cancel/action'
  'Microsoft.Authorization/roleAssignmentSchedules/read'
  'Microsoft.Authorization/roleAssignmentScheduleInstances/read'
]

resource governorRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'hsm-access-governor-management-plane')
  properties: {
    roleName: 'HSM Access Governor (management plane, ${resourceGroup().name})'
    description: 'Reads, creates and removes role assignments for hsm-access-governor. Assign only with a condition that limits the roles.'
    type: 'CustomRole'
    permissions: [
      { actions: usePimScheduleRequests ? concat(assignmentActions, pimActions) : assignmentActions }
    ]
    assignableScopes: [resourceGroup().id]
  }
}

var governedIds = join(governedAzureRoleIds, ', ')
var condition = '((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/write\'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${governedIds}})) AND ((!(ActionMatches{\'Microsoft.Authorization/roleAssignments/delete\'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {${governedIds}}))'

resource governorOnHsm 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: hsm
  name: guid(hsm.id, principalId, governorRole.id)
  properties: {
    roleDefinitionId: governorRole.id
    principalId: principalId
    principalType: 'ServicePrincipal'
    condition: condition
    conditionVersion: '2.0'
    description: 'hsm-access-governor may assign and remove only the governed roles on this HSM'
  }
}

output roleDefinitionId string = governorRole.id
