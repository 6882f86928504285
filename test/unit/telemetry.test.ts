import { InvocationContext } from '@azure/functions';
import { problemResponse, invocationLog } from '../../functions/http';
import { currentInvocation, runInvocation, telemetryEnabled, traceIdOf } from '../../shared/adapters/telemetry';
import type { RequestQuery, RequestPage } from '../../shared/services/ports';
import { driftRecorder, workloadGaugeRecorder } from '../../shared/services/workloadGauges';
import type { ReconcileRun } from '../../shared/services/reconciliationPorts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACE_PARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

describe('telemetry off (no settings)', () => {
  it('loads nothing of OpenTelemetry and still names the host\'s trace in problems and log lines', async () => {
    expect(telemetryEnabled()).toBe(false);
    const lines: string[] = [];
    const context = new InvocationContext({ invocationId: 'inv-1', functionName: 'requests-decide', traceContext: { traceParent: TRACE_PARENT, traceState: '', attributes: {} }, logHandler: (_level, ...args) => lines.push(String(args[0])) });
    const body = await runInvocation({ functionName: 'requests-decide', invocationId: 'inv-1', traceParent: TRACE_PARENT, kind: 'server' }, async () => {
      expect(currentInvocation()).toEqual({ functionName: 'requests-decide', invocationId: 'inv-1', traceId: TRACE_ID });
      invocationLog(context).info('Request r-1: Active', { requestId: 'r-1' });
      return JSON.parse(String(problemResponse(409, 'conflict', 'x').body)) as Record<string, unknown>;
    });
    expect(body.traceId).toBe(TRACE_ID);
    expect(lines).toEqual([`Request r-1: Active ${JSON.stringify({ functionName: 'requests-decide', invocationId: 'inv-1', traceId: TRACE_ID, requestId: 'r-1' })}`]);
    expect(Object.keys(require.cache).some((path) => /[/\\]@opentelemetry[/\\]|monitor-opentelemetry/.test(path))).toBe(false);
  });

  it('outside an invocation a problem carries no trace id, and a log line says which invocation it is from', () => {
    expect(JSON.parse(String(problemResponse(400, 'invalid-body', 'x').body))).not.toHaveProperty('traceId');
    const lines: string[] = [];
    const context = new InvocationContext({ invocationId: 'inv-2', functionName: 'sweep', traceContext: { traceParent: TRACE_PARENT, traceState: '', attributes: {} }, logHandler: (_level, ...args) => lines.push(String(args[0])) });
    invocationLog(context).warn('late');
    expect(lines[0]).toBe(`late ${JSON.stringify({ functionName: 'sweep', invocationId: 'inv-2', traceId: TRACE_ID })}`);
    expect(traceIdOf('garbage')).toBeUndefined();
  });
});

describe('workload gauges', () => {
  it('count every page of active and pending requests, at most once per interval', async () => {
    const statuses: Record<string, number> = { Active: 2500, Pending: 3 };
    const ledger = {
      list: async (query: RequestQuery): Promise<RequestPage> => {
        const total = statuses[query.statuses![0]!]!;
        const offset = Number(query.continuation ?? 0);
        const size = Math.min(query.pageSize ?? 100, total - offset);
        const items = Array.from({ length: size }, () => ({}) as RequestPage['items'][number]);
        return offset + size < total ? { items, continuation: String(offset + size) } : { items };
      },
    };
    const readings: string[] = [];
    let now = 0;
    const record = workloadGaugeRecorder(() => ledger, { activeGrants: (n) => readings.push(`active ${n}`), pendingApprovals: (n) => readings.push(`pending ${n}`) }, 60_000, () => now);
    await record();
    now = 59_999;
    await record();
    now = 60_000;
    statuses.Pending = 0;
    await record();
    expect(readings).toEqual(['active 2500', 'pending 3', 'active 2500', 'pending 0']);
  });

  it('record a completed run\'s drift by kind', async () => {
    const readings: Array<[number, Record<string, string>]> = [];
    await driftRecorder((count, attributes) => readings.push([count, attributes]))({ hsm: 'contoso-hsm', mode: 'plan', counts: { unexpected: 2, missing: 0 } } as unknown as ReconcileRun, []);
    expect(readings).toEqual([[2, { kind: 'unexpected', hsm: 'contoso-hsm', mode: 'plan' }], [0, { kind: 'missing', hsm: 'contoso-hsm', mode: 'plan' }]]);
  });
});
