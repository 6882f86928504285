import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { join } from 'node:path';
import { loadPolicyFile } from '../../shared/adapters/policyFile';
import { REVOCATION_QUEUE } from '../../shared/adapters/storage/revocationQueue';
import { RECONCILE_QUEUE } from '../../shared/adapters/storage/runQueue';

const root = join(__dirname, '..', '..');
const read = (path: string): string => readFileSync(join(root, path), 'utf8');
const BICEP_FILES = ['infra/main.bicep', 'infra/hsm-management-plane.bicep', 'infra/inbound-subscription.bicep', 'infra/audit-log-source.bicep', 'infra/audit-log-subscription.bicep'];
const bicep = BICEP_FILES.map(read).join('\n');

// Built-in roles that would let the service do far more than govern access.
const OVERPRIVILEGED = {
  Owner: '8e3af657-a8ff-443c-a75c-2fe8c4bcb635',
  Contributor: 'b24988ac-6180-42a0-ab88-20f7382dd24c',
  'User Access Administrator': '18d7d88d-d35e-4fb5-a5c3-7773c20a72d9',
  'Role Based Access Control Administrator': 'f58310d9-a9f6-439a-9e8d-f62e7b41a168',
};

/** The bodies of the template's role assignments, one string each. */
function roleAssignmentBodies(text: string): string[] {
  const bodies: string[] = [];
  const start = /resource \w+ 'Microsoft\.Authorization\/roleAssignments@[^']+' = /g;
  for (let match = start.exec(text); match; match = start.exec(text)) {
    let depth = 0;
    let end = match.index + match[0].length;
    for (; end < text.length; end++) {
      if (text[end] === '{') depth++;
      if (text[end] === '}' && --depth === 0) break;
    }
    bodies.push(text.slice(match.index, end + 1));
  }
  return bodies;
}

describe('infra: the service identity is least privileged', () => {
  const assignments = roleAssignmentBodies(bicep);

  it('assigns roles only to the service principal, each with principalType set', () => {
    // Storage (3), the event topic, Key Vault, Application Insights and, on the log account, Blob Data Reader and Queue Data Contributor.
    expect(assignments.length).toBe(7);
    for (const body of assignments) {
      expect(body).toMatch(/principalType: 'ServicePrincipal'/);
      expect(body).toMatch(/principalId: (identity\.properties\.principalId|principalId)/);
    }
  });

  it('never grants an over-privileged built-in role', () => {
    for (const [name, id] of Object.entries(OVERPRIVILEGED)) {
      expect({ name, found: bicep.includes(id) }).toEqual({ name, found: false });
    }
  });

  it('limits what the management-plane role may assign or remove with a delegation condition', () => {
    const onHsm = assignments.find((body) => body.includes('scope: hsm'));
    expect(onHsm).toBeDefined();
    expect(onHsm).toMatch(/condition: condition/);
    expect(onHsm).toMatch(/conditionVersion: '2\.0'/);
    expect(bicep).toMatch(/ActionMatches\{\\'Microsoft\.Authorization\/roleAssignments\/write\\'\}\)\) OR \(@Request\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals/);
    expect(bicep).toMatch(/ActionMatches\{\\'Microsoft\.Authorization\/roleAssignments\/delete\\'\}\)\) OR \(@Resource\[Microsoft\.Authorization\/roleAssignments:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals/);
  });

  it('gives the HSM local RBAC role exactly the permissions the emulator seed runs the service with, and no key operation', () => {
    const role = JSON.parse(read('infra/hsm-governor-role.json')) as { name: string; dataActions: string[] };
    const seed = JSON.parse(read('examples/contoso/hsm-seed.json')) as { roleDefinitions: { name: string; dataActions: string[] }[] };
    const seeded = seed.roleDefinitions.find((d) => d.name === role.name);
    expect(seeded?.dataActions.slice().sort()).toEqual(role.dataActions.slice().sort());
    expect(role.dataActions.filter((action) => /\/keys\/(?!read\/)/.test(action))).toEqual([]);
    const policy = loadPolicyFile(join(root, 'examples/contoso/policy.yaml'));
    expect(policy.customRoles.map((r) => r.id)).toContain(role.name);
  });
});

describe('infra: app settings', () => {
  it('sets only settings the README documents', () => {
    const main = read('infra/main.bicep');
    const readme = read('README.md');
    const names = [...main.matchAll(/\{ name: '([A-Za-z_]+)', value:/g)].map((m) => m[1]!);
    const platformSettings = new Set(['AzureWebJobsStorage__credential', 'AzureWebJobsStorage__clientId', 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', 'APPLICATIONINSIGHTS_CONNECTION_STRING']);
    const undocumented = names.filter((name) => !platformSettings.has(name) && !readme.includes(`\`${name}\``));
    expect(names.length).toBeGreaterThan(8);
    expect(undocumented).toEqual([]);
  });

  it('routes inbound events to the app\'s Event Grid trigger and pre-creates the queues the app uses', () => {
    const main = read('infra/main.bicep');
    const trigger = /resourceId: '\$\{app\.id\}\/functions\/([\w-]+)'/.exec(read('infra/inbound-subscription.bicep'))?.[1];
    expect(read('functions/events.ts')).toMatch(new RegExp(`app\\.eventGrid\\('${trigger}'`));
    const queues = /for name in \[([^\]]+)\]/.exec(main)?.[1]?.match(/'[^']+'/g)?.map((q) => q.slice(1, -1));
    expect(queues?.sort()).toEqual([REVOCATION_QUEUE, RECONCILE_QUEUE].sort());
  });
});

/** One resource declaration's text, from `resource NAME` to its closing brace. */
function resourceBody(text: string, symbol: string): string {
  const start = text.search(new RegExp(`resource ${symbol} '`));
  if (start < 0) throw new Error(`no resource ${symbol}`);
  let depth = 0;
  for (let end = text.indexOf('{', start); end < text.length; end++) {
    if (text[end] === '{') depth++;
    if (text[end] === '}' && --depth === 0) return text.slice(start, end + 1);
  }
  throw new Error(`resource ${symbol} is not closed`);
}

// Each api-version was checked against Azure's published REST API specs / Bicep reference; a new one
// must be checked the same way and added here. None is a preview.
const CHECKED_API_VERSIONS: Record<string, string> = {
  'Microsoft.ManagedIdentity/userAssignedIdentities': '2023-01-31',
  'Microsoft.BotService/botServices': '2022-09-15',
  'Microsoft.BotService/botServices/channels': '2022-09-15',
  'Microsoft.Storage/storageAccounts': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/blobServices/containers': '2023-05-01',
  'Microsoft.Storage/storageAccounts/tableServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/queueServices': '2023-05-01',
  'Microsoft.Storage/storageAccounts/queueServices/queues': '2023-05-01',
  'Microsoft.OperationalInsights/workspaces': '2023-09-01',
  'Microsoft.Insights/components': '2020-02-02',
  'Microsoft.Insights/workbooks': '2023-06-01',
  'Microsoft.KeyVault/vaults': '2023-07-01',
  'Microsoft.KeyVault/vaults/secrets': '2023-07-01',
  'Microsoft.KeyVault/managedHSMs': '2023-07-01',
  'Microsoft.EventGrid/topics': '2025-02-15',
  'Microsoft.EventGrid/topics/eventSubscriptions': '2025-02-15',
  'Microsoft.EventGrid/systemTopics': '2022-06-15',
  'Microsoft.EventGrid/systemTopics/eventSubscriptions': '2022-06-15',
  'Microsoft.Web/serverfarms': '2024-04-01',
  'Microsoft.Web/sites': '2024-04-01',
  'Microsoft.Web/sites/config': '2024-04-01',
  'Microsoft.Authorization/roleAssignments': '2022-04-01',
  'Microsoft.Authorization/roleDefinitions': '2022-04-01',
};

describe('infra: api-versions and runtime', () => {
  it('uses only checked GA api-versions', () => {
    const used = [...bicep.matchAll(/'(Microsoft\.[\w./]+)@([\w-]+)'/g)].map((m) => ({ type: m[1]!, version: m[2]! }));
    expect(used.length).toBeGreaterThan(15);
    for (const { type, version } of used) {
      expect({ type, version, preview: version.includes('preview') }).toEqual({ type, version: CHECKED_API_VERSIONS[type], preview: false });
    }
  });

  it('runs Node 22 on Flex Consumption and sets nothing Flex deprecates', () => {
    const app = resourceBody(read('infra/main.bicep'), 'app');
    expect(app).toMatch(/runtime: \{ name: 'node', version: '22' \}/);
    expect(resourceBody(read('infra/main.bicep'), 'plan')).toMatch(/tier: 'FlexConsumption'/);
    // Flex takes the runtime from functionAppConfig and refuses these as site settings.
    expect(app).not.toMatch(/ftpsState|FUNCTIONS_WORKER_RUNTIME|WEBSITE_NODE_DEFAULT_VERSION|linuxFxVersion/);
  });
});

describe('infra: the first azd up works', () => {
  const main = read('infra/main.bicep');
  const azureYaml = parseYaml(read('azure.yaml')) as {
    infra: { path: string; module: string };
    services: Record<string, { project: string; host: string; dist: string; hooks: Record<string, { run: string }> }>;
    hooks: Record<string, { run: string }>;
  };

  it('provisions no Event Grid subscription to the function before its code is published', () => {
    expect(main).not.toMatch(/eventSubscriptions@/);
    expect(main).not.toMatch(/\/functions\//);
  });

  it('subscribes the request topic to events-submit after the deployment, from the postdeploy hook', () => {
    const postdeploy = azureYaml.hooks.postdeploy?.run;
    expect(postdeploy).toBe('infra/hooks/postdeploy.sh');
    const hook = read(postdeploy!);
    // It waits for the published function, then deploys the subscription template with main.bicep's outputs.
    const waits = hook.indexOf('az functionapp function show');
    const deploys = hook.indexOf('az deployment group create');
    expect(waits).toBeGreaterThan(0);
    expect(deploys).toBeGreaterThan(waits);
    expect(hook).toMatch(/-f "\$here\/inbound-subscription\.bicep"/);
    for (const output of ['FUNCTION_APP_NAME', 'ACCESS_REQUEST_TOPIC_NAME']) {
      expect(hook).toContain(`$${output}`);
      expect(main).toMatch(new RegExp(`^output ${output} string`, 'm'));
    }
    const subscription = resourceBody(read('infra/inbound-subscription.bicep'), 'inboundRequests');
    expect(subscription).toMatch(/parent: requestTopic/);
    expect(read('infra/inbound-subscription.bicep')).toMatch(/resource app 'Microsoft\.Web\/sites@[^']+' existing/);
  });

  it('subscribes the log account\'s system topic to the blob trigger\'s webhook after the deployment, with the blobs extension key', () => {
    const subscription = read('infra/audit-log-subscription.bicep');
    const functionName = /param functionName string = '([\w-]+)'/.exec(subscription)?.[1];
    expect(read('functions/evidence.ts')).toMatch(new RegExp(`app\\.storageBlob\\('${functionName}', \\{ source: 'EventGrid'`));
    expect(subscription).toMatch(/runtime\/webhooks\/blobs\?functionName=Host\.Functions\.\$\{functionName\}&code=\$\{listKeys\('\$\{app\.id\}\/host\/default', '[\d-]+'\)\.systemKeys\.blobs_extension\}/);
    expect(subscription).toMatch(/eventDeliverySchema: 'EventGridSchema'/);
    expect(subscription).toMatch(/includedEventTypes: \['Microsoft\.Storage\.BlobCreated'\]/);
    expect(read('infra/audit-log-source.bicep')).toMatch(/topicType: 'Microsoft\.Storage\.StorageAccounts'/);
    const hook = read('infra/hooks/postdeploy.sh');
    expect(hook.indexOf('wait_for_function audit-ingest')).toBeGreaterThan(0);
    expect(hook.indexOf('-f "$here/audit-log-subscription.bicep"')).toBeGreaterThan(hook.indexOf('wait_for_function audit-ingest'));
    for (const output of ['AUDIT_LOG_SYSTEM_TOPIC_NAME', 'AUDIT_LOG_STORAGE_RESOURCE_GROUP']) expect(main).toMatch(new RegExp(`^output ${output} string`, 'm'));
  });

  it('ties the azd service to the function app by its azd-service-name tag and deploys the built package', () => {
    const [name, service] = Object.entries(azureYaml.services)[0]!;
    expect(Object.keys(azureYaml.services)).toHaveLength(1);
    expect(resourceBody(main, 'app')).toContain(`'azd-service-name': '${name}'`);
    expect(service.host).toBe('function');
    expect(service.dist).toBe('dist/package');
    expect(service.hooks.prepackage?.run).toBe('npm run package');
    expect(azureYaml.infra).toEqual({ provider: 'bicep', path: 'infra', module: 'main' });
  });

  it('maps every required template parameter in main.parameters.json, and only parameters that exist', () => {
    const parameters = Object.keys((JSON.parse(read('infra/main.parameters.json')) as { parameters: Record<string, unknown> }).parameters);
    const declared = [...main.matchAll(/^param (\w+) \w+( =)?/gm)].map((m) => ({ name: m[1]!, required: m[2] === undefined }));
    expect(parameters.filter((p) => !declared.some((d) => d.name === p))).toEqual([]);
    expect(declared.filter((d) => d.required && !parameters.includes(d.name))).toEqual([]);
    // The secure seeds are never passed: their newGuid() defaults are the point.
    expect(parameters.filter((p) => /seed/i.test(p))).toEqual([]);
  });

  it('gives the identity Monitoring Metrics Publisher on Application Insights, whose local auth is off', () => {
    expect(resourceBody(main, 'insights')).toMatch(/DisableLocalAuth: true/);
    const publisher = roleAssignmentBodies(main).find((body) => body.includes('roles.monitoringMetricsPublisher'));
    expect(publisher).toMatch(/scope: insights/);
    expect(main).toMatch(/monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb'/);
    expect(main).toMatch(/APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=\$\{identity\.properties\.clientId\};Authorization=AAD'/);
  });
});

describe('infra: the workbook shows the service\'s metrics', () => {
  const main = read('infra/main.bicep');
  const workbook = JSON.parse(read('infra/workbook.json')) as { version: string; items: Array<{ type: number; content: { query?: string; resourceType?: string } }> };

  it('is deployed as a shared workbook of the Application Insights resource, from infra/workbook.json', () => {
    const body = resourceBody(main, 'workbook');
    expect(body).toMatch(/kind: 'shared'/);
    expect(body).toMatch(/sourceId: insights\.id/);
    expect(body).toMatch(/serializedData: loadTextContent\('workbook\.json'\)/);
    // A workbook's name must be a GUID.
    expect(body).toMatch(/name: guid\(/);
  });

  it('charts every metric the app records', () => {
    expect(workbook.version).toBe('Notebook/1.0');
    const queries = workbook.items.filter((item) => item.type === 3).map((item) => item.content);
    for (const query of queries) expect(query.resourceType).toBe('microsoft.insights/components');
    const text = queries.map((query) => query.query).join('\n');
    const recorded = [...read('shared/adapters/telemetry/otel.ts').matchAll(/create(?:Histogram|Gauge|Counter)\('([\w.]+)'/g)].map((m) => m[1]!);
    expect(recorded.length).toBe(5);
    for (const name of recorded) expect(text).toContain(`'${name}'`);
  });
});

describe('infra: the review-link key exists before the app needs it, and is never exposed', () => {
  const main = read('infra/main.bicep');
  const secret = resourceBody(main, 'reviewLinkKeys');

  it('creates the secret from secure newGuid() seeds unless the preprovision hook found it', () => {
    expect(secret).toMatch(/'Microsoft\.KeyVault\/vaults\/secrets@[^']+' = if \(reviewLinkKeysPresent == 'false'\)/);
    expect(secret).toMatch(/value: replace\('\$\{reviewLinkKeySeed1\}\$\{reviewLinkKeySeed2\}', '-', ''\)/);
    for (const seed of ['reviewLinkKeySeed1', 'reviewLinkKeySeed2']) expect(main).toMatch(new RegExp(`@secure\\(\\)\\nparam ${seed} string = newGuid\\(\\)`));
    expect(read('infra/hooks/preprovision.sh')).toMatch(/azd env set REVIEW_LINK_KEYS_PRESENT "\$present"/);
  });

  it('makes the app wait for the secret and for its right to read it', () => {
    expect(resourceBody(main, 'app')).toMatch(/dependsOn: \[[^\]]*reviewLinkKeys[^\]]*secretsReader/);
    expect(resourceBody(main, 'app')).toMatch(/REVIEW_LINK_KEYS', value: '@Microsoft\.KeyVault\(VaultName=\$\{vault\.name\};SecretName=\$\{reviewLinkKeysSecret\}\)'/);
  });

  it('outputs nothing secret', () => {
    const outputs = main.split('\n').filter((line) => line.startsWith('output '));
    expect(outputs.length).toBeGreaterThan(5);
    for (const line of outputs) expect(line).not.toMatch(/seed|secret|getSecret|listKeys|ConnectionString/i);
  });

  it('sets notification settings only when notifications are on', () => {
    expect(main).toMatch(/var notificationSettings = notificationsOn \? concat\(/);
    expect(main).toMatch(/@allowed\(\['on', 'off'\]\)\nparam notifications string = 'off'/);
  });
});

describe('infra: the Teams bot', () => {
  const main = read('infra/main.bicep');
  const botBody = main.slice(main.indexOf("resource bot 'Microsoft.BotService/botServices@"), main.indexOf("resource botTeams"));

  it('is single-tenant, with the app\'s managed identity as its app id and no secret', () => {
    expect(botBody).toMatch(/msaAppType: 'UserAssignedMSI'/);
    expect(botBody).toMatch(/msaAppId: identity\.properties\.clientId/);
    expect(botBody).toMatch(/msaAppMSIResourceId: identity\.id/);
    expect(botBody).toMatch(/msaAppTenantId: tenant\(\)\.tenantId/);
    expect(botBody).toMatch(/disableLocalAuth: true/);
    expect(main).not.toMatch(/MicrosoftAppPassword|msaAppPassword|clientSecret/i);
  });

  it('calls the function app\'s /api/messages, on the Teams channel, and the app knows its own bot', () => {
    expect(botBody).toContain("endpoint: 'https://${app.properties.defaultHostName}/api/messages'");
    expect(main).toMatch(/resource botTeams 'Microsoft\.BotService\/botServices\/channels@[^']+' = \{\s*parent: bot\s*name: 'MsTeamsChannel'/);
    expect(main).toContain("{ name: 'BOT_APP_ID', value: identity.properties.clientId }");
  });
});
