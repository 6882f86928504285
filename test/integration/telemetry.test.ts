import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomUUID } from 'node:crypto';
import { PERSONAS } from '../../dev/personas';
import { waitFor } from '../helpers/poll';
import { useStack } from '../helpers/stack';

/**
 * The telemetry the app sends, on the local stack: TELEMETRY_FILE takes the place of Application
 * Insights, with the same spans (one trace per invocation, the Azure SDK's calls as dependencies).
 */
const TELEMETRY_FILE = join(tmpdir(), `hsm-governor-telemetry-${randomUUID()}.jsonl`);
const stack = useStack({ env: { TELEMETRY_FILE, TELEMETRY_EXPORT_INTERVAL_MS: '500' } });
const APP_VM = PERSONAS['app-vm'].oid;

interface SpanLine { type: 'span'; name: string; kind: number; traceId: string; spanId: string; parentSpanId: string | null; attributes: Record<string, unknown>; scope: string }

function lines(): Array<Record<string, unknown>> {
  if (!existsSync(TELEMETRY_FILE)) return [];
  return readFileSync(TELEMETRY_FILE, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}
const spans = (): SpanLine[] => lines().filter((line): line is SpanLine & Record<string, unknown> => line.type === 'span') as SpanLine[];

it('one approval is one trace: the invocation, the HSM call with its x-ms-request-id, the storage calls', async () => {
  const submitted = await stack().api('/api/requests', {
    persona: 'dave',
    body: { role: 'Crypto User', scope: '/keys/release-signing-key', principalId: APP_VM, duration: 'PT1H', justification: 'telemetry check' },
  });
  expect(submitted.status).toBe(201);
  const { id } = (await submitted.json()) as { id: string };
  const hsmCallsBefore = stack().stack.hsm.requests().length;

  const approved = await stack().api(`/api/requests/${id}/decisions`, { persona: 'sam', body: { decision: 'approve' } });
  expect(approved.status).toBe(200);

  const invocation = await waitFor('the approval’s invocation span', () => spans().find((span) => span.name === 'requests-decide'));
  const trace = spansOf(invocation.traceId);
  // One root: the invocation span, parented on the host's traceparent (not on another span of this process).
  const ids = new Set(trace.map((span) => span.spanId));
  expect(trace.filter((span) => !ids.has(span.parentSpanId ?? ''))).toEqual([invocation]);
  expect(invocation.kind).toBe(1); // SpanKind.SERVER

  const hsmPut = trace.find((span) => span.kind === 2 && /PUT/.test(span.name) && String(span.attributes['url.full'] ?? span.attributes['http.url'] ?? '').includes('/roleAssignments/'));
  expect(hsmPut).toBeDefined();
  const hsmPutRecord = stack().stack.hsm.requests().slice(hsmCallsBefore).find((record) => record.method === 'PUT' && record.path.includes('/roleAssignments/'));
  expect(hsmPut!.attributes.serviceRequestId).toBe(hsmPutRecord!.requestId);
  // The ledger's Table calls are in the same trace.
  expect(trace.some((span) => span.kind === 2 && String(span.attributes['url.full'] ?? span.attributes['http.url'] ?? '').includes('/ledger'))).toBe(true);
}, 120_000);

it('a problem body names its trace, and the trace is in the telemetry', async () => {
  const response = await stack().api('/api/requests', { persona: 'dave', body: { role: 'No Such Role', scope: '/keys/release-signing-key', duration: 'PT1H', justification: 'x' } });
  expect(response.status).toBeGreaterThanOrEqual(400);
  expect(response.status).toBeLessThan(500);
  const problem = (await response.json()) as { traceId?: string };
  expect(problem.traceId).toMatch(/^[0-9a-f]{32}$/);
  const invocation = await waitFor('the refused call’s invocation span', () => spans().find((span) => span.traceId === problem.traceId && span.kind === 1));
  expect(invocation.name).toBe('requests-submit');
}, 60_000);

function spansOf(traceId: string): SpanLine[] {
  return spans().filter((span) => span.traceId === traceId);
}
