import { randomUUID } from 'node:crypto';
import { TableClient } from '@azure/data-tables';
import { startAzurite, type Azurite } from '../../dev/azurite';
import { TableLedger } from '../../shared/adapters/storage/ledger';
import { PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import type { AuditFilter } from '../../shared/domain';
import type { AuditEntry, LedgerPort } from '../../shared/services/ports';

/** `auditPage` on Azurite through the real Tables client: filters, time range and pages, for both ledger layouts. */
let azurite: Azurite;
beforeAll(async () => {
  azurite = await startAzurite({ ports: { blob: 0, queue: 0, table: 0 } });
});
afterAll(() => azurite.close());

const table = (): TableClient => TableClient.fromConnectionString(azurite.connectionString, `audit${randomUUID().replace(/-/g, '').slice(0, 12)}`, { allowInsecureConnection: true });
const minute = (n: number): string => new Date(Date.UTC(2026, 11, 2, 10, n)).toISOString();
/** Twelve records, one a minute: even minutes about the release key, odd ones about the app key; every third by sam. */
const ENTRIES: AuditEntry[] = Array.from({ length: 12 }, (_, n) => ({
  at: minute(n), actor: n % 3 === 0 ? 'sam' : 'dave', action: n % 4 === 0 ? 'request.approved' : 'request.created', requestId: `r${n % 5}`,
  reason: `record ${n}`, details: { scope: n % 2 === 0 ? '/keys/release-signing-key' : '/keys/app-signing-key', principalId: 'app-vm' },
}));

async function all(ledger: LedgerPort, filter: AuditFilter, limit: number): Promise<{ reasons: string[]; pages: number }> {
  const reasons: string[] = [];
  let continuation: string | undefined;
  let pages = 0;
  do {
    const page = await ledger.auditPage({ filter, limit, ...(continuation ? { continuation } : {}) });
    expect(page.records.length).toBeLessThanOrEqual(limit);
    reasons.push(...page.records.map((r) => r.reason as string));
    continuation = page.continuation;
    pages += 1;
  } while (continuation);
  return { reasons, pages };
}

const records = (...ns: number[]): string[] => ns.map((n) => `record ${n}`);

describe.each([
  ['one-partition ledger', (t: TableClient) => new TableLedger(t)],
  ['partitioned ledger', (t: TableClient) => new PartitionedLedger(t)],
])('auditPage of the %s', (_name, make) => {
  let ledger: LedgerPort;
  beforeAll(async () => {
    ledger = make(table());
    for (const entry of ENTRIES) await ledger.appendAudit([entry]);
  });

  it('pages through every record in order', async () => {
    expect(await all(ledger, {}, 5)).toEqual({ reasons: records(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11), pages: 3 });
  });

  it('filters by key, who and action, a page at a time, with no empty last page', async () => {
    expect(await all(ledger, { scope: '/keys/release-signing-key' }, 2)).toEqual({ reasons: records(0, 2, 4, 6, 8, 10), pages: 3 });
    expect((await all(ledger, { who: 'sam', scope: '/keys/release-signing-key' }, 10)).reasons).toEqual(records(0, 6));
    expect((await all(ledger, { who: 'app-vm', action: 'request.approved' }, 10)).reasons).toEqual(records(0, 4, 8));
    expect((await all(ledger, { action: 'request' }, 100)).reasons).toHaveLength(12);
  });

  it('keeps to the time range (from included, to excluded) and the request', async () => {
    expect((await all(ledger, { from: minute(3), to: minute(7) }, 3)).reasons).toEqual(records(3, 4, 5, 6));
    expect((await all(ledger, { requestId: 'r1', from: minute(2) }, 1)).reasons).toEqual(records(6, 11));
    expect(await all(ledger, { from: minute(20) }, 3)).toEqual({ reasons: [], pages: 1 });
  });
});
