import type { KeyAccess } from '../../shared/domain/reports';
import { accessPage, keysPage, refusalPage, runPage } from '../../shared/web/reports';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';
import { G, NOW, OID, contosoPolicy } from './domain/fixtures';

/** The reports in the portal's layout: one navigation, every value escaped, labelled cells for a phone. */
const policy = contosoPolicy();
const HOSTILE = '<img src=x onerror=alert(1)>\u202Egnp.exe';
const SIGN = 'Microsoft.KeyVault/managedHsm/keys/sign/action';

const key: KeyAccess = {
  key: 'release-signing-key',
  access: [
    { principalId: G.securityTeam, role: 'Managed HSM Administrator', roleId: 'a', assignedAt: '/', assignmentName: 'n1', dataActions: ['Microsoft.KeyVault/managedHsm/roleAssignments/write/action'], basis: 'standing', source: 'inventory' },
    { principalId: OID.appVm, principal: 'app-vm', role: HOSTILE, roleId: 'c', assignedAt: '/keys/release-signing-key', assignmentName: 'n2', dataActions: [SIGN], basis: 'just-in-time', expiresAt: '2026-12-02T11:00:00.000Z', requestId: 'r1', source: 'running-grant' },
  ],
};
const report = { hsm: 'contoso-hsm', runId: 'run-1', asOf: NOW.toISOString(), inventoryAsOf: NOW.toISOString(), grantsAsOf: NOW.toISOString(), keys: [key], azureRbac: [] };

describe('the access report page', () => {
  const html = accessPage(policy, report, { nonce: 'n0nce', signedIn: 'Alice Auditor' });

  it('is a matrix of capabilities with the source of each, and the raw data actions in details', () => {
    expect(html).toContain('<th scope="col">Sign</th><th scope="col">Decrypt</th><th scope="col">Wrap or unwrap</th><th scope="col">Manage roles</th><th scope="col">Back up</th><th scope="col">Export or release</th>');
    expect(html).toMatch(/<td data-label="Sign"><ul class="plain"><li><span class="basis">just-in-time<\/span>, until <time datetime="2026-12-02T11:00:00.000Z"[^>]*>2 Dec 2026, 11:00 UTC<\/time> \(granted after the inventory\)<\/li><\/ul><\/td>/);
    expect(html).toContain('<td data-label="Manage roles"><ul class="plain"><li><span class="basis">standing</span> via Contoso Security Team</li></ul></td>');
    expect(html).toContain(`<details><summary>1 role assignment(s)</summary><ul><li>`);
    expect(html).toContain(`<li><code>${SIGN}</code></li>`);
    expect(html).toContain('Holders of Managed HSM Administrator can grant themselves any role');
  });

  it('escapes what came from the HSM and shows bidi controls instead of obeying them', () => {
    expect(html).not.toContain('<img');
    expect(html).toContain('&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;[U+202E]gnp.exe');
  });

  it('has the one header and navigation, with the current page marked', () => {
    expect(html).toContain('<a href="/api/reports/access" aria-current="page">Access report</a>');
    expect(html).toContain('<a href="/audit">Audit trail</a>');
    expect(html).toContain('Signed in as Alice Auditor');
    expect(html).toContain('<script nonce="n0nce">');
  });
});

describe('the other reports', () => {
  it('a refusal page without a nonce has no script', () => {
    const html = refusalPage(403, 'Reports are for <HSM> administrators');
    expect(html).toContain('<h1>Not allowed</h1><p>Reports are for &lt;HSM&gt; administrators</p>');
    expect(html).not.toContain('<script');
  });

  it('the run and keys reports label every cell for a phone', () => {
    const run = { id: 'run-1', hsm: 'contoso-hsm', mode: 'plan', requestedBy: OID.sam, status: 'completed', phase: 'done', startedAt: NOW.toISOString(), durationMs: 1200, executions: 1, hsmCalls: 3, hsmThrottled: 0, keyCount: 3, scopesDone: 3, roleDefinitions: [], actions: [] } as unknown as ReconcileRun;
    const items = [{ id: 'i', kind: 'unexpected', principalId: OID.dave, principal: 'dave', role: 'Managed HSM Crypto User', roleId: 'c', scope: '/keys/k', assignmentName: 'a', reason: 'nobody approved <it>', action: 'remove' }] as const;
    const html = runPage(run, items as never, { nonce: 'x' });
    expect(html).toContain('<td data-label="Reason">nobody approved &lt;it&gt;</td>');
    expect(html).toContain('aria-current="page">Reconciliation</a>');
    const keys = keysPage(NOW.toISOString(), { expiringWithinDays: 30, rotationPeriodDays: 365, expiringSoon: [{ name: 'k1', expiresOn: NOW.toISOString(), daysLeft: 3 }], expired: [], withoutExpiry: ['k2'], notRotated: [] }, { nonce: 'x' });
    expect(keys).toContain('<td data-label="Days left">3</td>');
    expect(keys).toContain('<li>k2</li>');
  });
});
