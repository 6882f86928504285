/**
 * Scale: submit and lifecycle throughput through the HTTP API at several concurrencies, side by side
 * with raw Azurite's ceiling for the same writes, measured in one run; each goal of the scale work
 * printed as PASS/FAIL with its ratio.
 *
 *   npm run bench:scale -- [--submits N] [--lifecycles N] [--raw N]
 *
 * Starts the whole local stack in-process (timers on), submits as many distinct grantees of the
 * security team (Crypto User on a bench key, for themselves), counts every call Azurite's Table
 * service answers (diagnostics channel on its HTTP server), then writes the same transactions
 * straight to Azurite with the SDK, on one partition and spread over sixteen.
 * See bench/README.md for how to read the figures.
 */
import { randomUUID } from 'node:crypto';
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TableClient, type TransactionAction } from '@azure/data-tables';
import type { HostLogEntry } from '../dev/host';
import { TableLedger } from '../shared/adapters/storage/ledger';
import { PartitionedLedger } from '../shared/adapters/storage/partitionedLedger';
import { GROUPS } from '../dev/personas';
import { API_AUDIENCE, SEEDS, startStack, type Stack } from '../dev/stack';

const APPROVER = 'sara';
const KEYS = 32;
/** Entities in a submit's transaction: request, submission and open-access rows, one audit record, the head, one outbox row. */
const ENTITIES_PER_WRITE = 6;
/** State changes of a lifecycle, each one transaction: created (Pending), Approved, Active (granted), Revoked. */
const WRITES_PER_LIFECYCLE = 4;

interface Options { submits: number; lifecycles: number; raw: number }

function parseOptions(argv: string[]): Options {
  const options: Options = { submits: 320, lifecycles: 96, raw: 640 };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i]!.split('=', 2);
    const name = ({ '--submits': 'submits', '--lifecycles': 'lifecycles', '--raw': 'raw' } as const)[flag as '--submits'];
    const value = Number(inline ?? argv[(i += 1)]);
    if (!name || !Number.isInteger(value) || value < 32) {
      console.error('usage: npm run bench:scale -- [--submits N (default 320)] [--lifecycles N (default 96)] [--raw N (default 640)], each at least 32');
      process.exit(2);
    }
    options[name] = value;
  }
  return options;
}

const keyName = (index: number): string => `scale-key-${String(index + 1).padStart(2, '0')}`;

function writeSeed(dir: string): string {
  const contoso = JSON.parse(readFileSync(SEEDS.contoso, 'utf8')) as { keys: Array<{ name: string }> };
  const path = join(dir, 'scale-seed.json');
  writeFileSync(path, `${JSON.stringify({ ...contoso, keys: [...contoso.keys, ...Array.from({ length: KEYS }, (_, i) => ({ name: keyName(i) }))] }, null, 2)}\n`);
  return path;
}

/** Every request Azurite's Table service answers, and how long its `$batch` calls took. */
class TableCalls {
  calls = 0;
  batches = 0;
  readonly batchMs: number[] = [];
  private readonly started = new WeakMap<IncomingMessage, number>();

  constructor(private readonly port: number) {
    subscribe('http.server.request.start', (message) => {
      const { request, server } = message as { request: IncomingMessage; server: Server };
      if ((server.address() as { port?: number } | null)?.port !== this.port) return;
      this.calls++;
      if (request.url?.includes('$batch')) {
        this.batches++;
        this.started.set(request, performance.now());
      }
    });
    subscribe('http.server.response.finish', (message) => {
      const { request } = message as { request: IncomingMessage; response: ServerResponse };
      const start = this.started.get(request);
      if (start !== undefined) this.batchMs.push(performance.now() - start);
    });
  }

  snapshot(): { calls: number; batches: number; batchAt: number } {
    return { calls: this.calls, batches: this.batches, batchAt: this.batchMs.length };
  }
}

/** How long the ledger's `create` takes (its reads and its transaction), whichever layout the app runs: the host is in this process. */
const ledgerWrites: number[] = [];
for (const ledger of [TableLedger, PartitionedLedger]) {
  const create = ledger.prototype.create;
  ledger.prototype.create = async function timed(this: unknown, ...args: Parameters<typeof create>) {
    const start = performance.now();
    try {
      return await create.apply(this, args);
    } finally {
      ledgerWrites.push(performance.now() - start);
    }
  };
}

const percentile = (values: readonly number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN;
};

interface Phase { name: string; concurrency: number; count: number; seconds: number; perSecond: number; p50: number; p99: number; calls: number; batches: number; batchP50: number; writeP50: number; cpu: number; errors: string[]; extra: number[] }

/** Runs `work(i)` for i < count, `concurrency` at a time; latencies of each. */
async function run(name: string, concurrency: number, count: number, calls: TableCalls | undefined, work: (i: number) => Promise<number | void>): Promise<Phase> {
  const latencies: number[] = [];
  const extra: number[] = [];
  const errors: string[] = [];
  const before = calls?.snapshot();
  const writesBefore = ledgerWrites.length;
  const cpuBefore = process.cpuUsage();
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const i = next++;
      const t = performance.now();
      try {
        const value = await work(i);
        latencies.push(performance.now() - t);
        if (typeof value === 'number') extra.push(value);
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  const cpuUsed = process.cpuUsage(cpuBefore);
  const after = calls?.snapshot();
  return {
    name, concurrency, count, seconds, perSecond: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99),
    calls: before && after ? after.calls - before.calls : 0, batches: before && after ? after.batches - before.batches : 0,
    batchP50: before && after && calls ? percentile(calls.batchMs.slice(before.batchAt, after.batchAt), 50) : NaN,
    writeP50: percentile(ledgerWrites.slice(writesBefore), 50), cpu: (cpuUsed.user + cpuUsed.system) / 1e6 / seconds, errors, extra,
  };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const dataDir = mkdtempSync(join(tmpdir(), 'hsm-governor-scale-'));
  const logger = (entry: HostLogEntry): void => {
    if (entry.level === 'error' || entry.level === 'critical') console.error(`[host] ${entry.functionName ? `[${entry.functionName}] ` : ''}${entry.message.split('\n')[0]}`);
  };
  let stack: Stack | undefined;
  try {
    const t0 = Date.now();
    stack = await startStack({ dataDir: join(dataDir, 'stack'), ports: 'random', seed: writeSeed(dataDir), fresh: true, logger, timers: true });
    const api = stack.endpoints.api;
    console.log(`Stack up in ${Date.now() - t0} ms.`);
    const calls = new TableCalls(Number(new URL(stack.azurite.tableEndpoint).port));
    const approver = await stack.idp.issueToken(APPROVER, { audience: API_AUDIENCE });
    const grantee = async (): Promise<string> => {
      const oid = randomUUID();
      return stack!.idp.issueToken('sean', { audience: API_AUDIENCE, claims: { oid, name: `Bench ${oid.slice(0, 8)}`, preferred_username: `bench-${oid.slice(0, 8)}@contoso.example`, groups: [GROUPS.securityTeam.oid] } });
    };
    const post = async (path: string, token: string, body: unknown, expect: number): Promise<Record<string, unknown>> => {
      const response = await fetch(`${api}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const json = (await response.json().catch(() => ({}))) as Record<string, unknown>;
      if (response.status !== expect) throw new Error(`${path}: HTTP ${response.status} ${JSON.stringify(json).slice(0, 200)}`);
      return json;
    };
    const submit = (token: string, key: number): Promise<Record<string, unknown>> =>
      post('/api/requests', token, { role: 'Crypto User', scope: `/keys/${keyName(key % KEYS)}`, justification: 'scale bench' }, 201);
    /** Submit, approve (the grant goes live), revoke (the same writes and removal as an expiry); resolves with the grant's lag after the approval. */
    const lifecycle = async (token: string, key: number): Promise<number> => {
      const id = (await submit(token, key)).id as string;
      const approved = await post(`/api/requests/${id}/decisions`, approver, { decision: 'approve' }, 200);
      if (approved.status !== 'Active') throw new Error(`approve: ${String(approved.status)}`);
      const history = approved.history as Array<{ to: string; at: string }>;
      const lag = Date.parse(history.find((h) => h.to === 'Active')!.at) - Date.parse(history.find((h) => h.to === 'Approved')!.at);
      await post(`/api/requests/${id}/revoke`, approver, { reason: 'scale bench' }, 200);
      return lag;
    };
    const tokens = async (n: number): Promise<string[]> => Promise.all(Array.from({ length: n }, grantee));

    // Warm-up: modules, connections, tables and queues.
    const warm = await tokens(4);
    await Promise.all(warm.map((token, i) => lifecycle(token, i)));

    // Raw Azurite first, while the app is idle (same process, same server): a submit's transaction (ENTITIES_PER_WRITE creates) on one partition or over sixteen.
    const raw = TableClient.fromConnectionString(stack.endpoints.storageConnectionString, 'scaleraw', stack.azurite.clientOptions);
    await raw.createTable();
    const write = (partition: string) => async (): Promise<void> => {
      const base = randomUUID();
      const actions: TransactionAction[] = Array.from({ length: ENTITIES_PER_WRITE }, (_, e) => ['create', { partitionKey: partition, rowKey: `${base}|${e}`, data: 'x'.repeat(600) }]);
      await raw.submitTransaction(actions);
    };
    const rawOne = await run('raw, one partition', 32, options.raw, undefined, write('one'));
    const rawMany = await run('raw, 16 partitions', 32, options.raw, undefined, (i) => write(`p-${i % 16}`)());
    const rawSingle = await run('raw, one at a time', 1, 64, undefined, write('single'));

    const phases: Phase[] = [];
    for (const [concurrency, count] of [[1, Math.max(32, Math.round(options.submits / 10))], [8, Math.round(options.submits / 2)], [32, options.submits]] as const) {
      const ts = await tokens(count);
      phases.push(await run(`submit`, concurrency, count, calls, async (i) => void (await submit(ts[i]!, i))));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    for (const [concurrency, count] of [[8, Math.round(options.lifecycles / 2)], [32, options.lifecycles]] as const) {
      const ts = await tokens(count);
      phases.push(await run(`lifecycle`, concurrency, count, calls, (i) => lifecycle(ts[i]!, i)));
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }

    console.log('');
    console.log('phase                     conc   count   per s     p50 ms   p99 ms   Table calls/op   $batch/op   errors   CPU (cores)');
    const perOp = (n: number, p: Phase): string => (p.calls ? (n / p.count).toFixed(1) : '-');
    const row = (p: Phase): void => console.log(
      `${p.name.padEnd(24)} ${String(p.concurrency).padStart(5)} ${String(p.count).padStart(7)} ${p.perSecond.toFixed(1).padStart(7)} ${p.p50.toFixed(0).padStart(10)} ${p.p99.toFixed(0).padStart(8)} ${perOp(p.calls, p).padStart(16)} ${perOp(p.batches, p).padStart(11)} ${String(p.errors.length).padStart(8)} ${p.cpu.toFixed(2).padStart(13)}`,
    );
    for (const p of [...phases, rawOne, rawMany, rawSingle]) row(p);
    for (const p of phases) for (const error of [...new Set(p.errors)].slice(0, 3)) console.log(`  ${p.name} at ${p.concurrency}: ${error}`);

    const [s1, s8, s32, l8, l32] = phases as [Phase, Phase, Phase, Phase, Phase];
    const ceilingSubmits = rawMany.perSecond;
    const ceilingLifecycles = rawMany.perSecond / WRITES_PER_LIFECYCLE;
    const grantLag = percentile([...l8.extra, ...l32.extra], 50);
    console.log('');
    console.log(`Raw Azurite: ${rawOne.perSecond.toFixed(0)} transactions/s on one partition, ${rawMany.perSecond.toFixed(0)}/s over 16 (× ${(rawMany.perSecond / rawOne.perSecond).toFixed(2)}), at concurrency 32; one at a time p50 ${rawSingle.p50.toFixed(1)} ms.`);
    console.log(`A submit's ledger write (the ledger's create, concurrency 1): p50 ${s1.writeP50.toFixed(1)} ms, of which its $batch at Azurite ${s1.batchP50.toFixed(1)} ms; a lifecycle is ${WRITES_PER_LIFECYCLE} state changes.`);
    console.log(`Table calls per submit ${(s1.calls / s1.count).toFixed(1)} ($batch ${(s1.batches / s1.count).toFixed(1)}), per lifecycle ${(l8.calls / l8.count).toFixed(1)} ($batch ${(l8.batches / l8.count).toFixed(1)}), timers included.`);
    console.log('');
    const goal = (ok: boolean, text: string): void => console.log(`${ok ? 'PASS' : 'FAIL'}  ${text}`);
    goal(s32.perSecond >= 1.5 * s8.perSecond, `submits at 32 ≥ 1.5 × at 8: ${s32.perSecond.toFixed(1)} / ${s8.perSecond.toFixed(1)} = ${(s32.perSecond / s8.perSecond).toFixed(2)}`);
    goal(l32.perSecond >= 1.5 * l8.perSecond, `lifecycles at 32 ≥ 1.5 × at 8: ${l32.perSecond.toFixed(2)} / ${l8.perSecond.toFixed(2)} = ${(l32.perSecond / l8.perSecond).toFixed(2)}`);
    goal(s32.perSecond >= 0.5 * ceilingSubmits, `submits at 32 ≥ 50% of raw over 16 partitions: ${s32.perSecond.toFixed(1)} / ${ceilingSubmits.toFixed(0)} = ${((100 * s32.perSecond) / ceilingSubmits).toFixed(0)}%`);
    goal(l32.perSecond >= 0.5 * ceilingLifecycles, `lifecycles at 32 ≥ 50% of raw over 16 partitions (${WRITES_PER_LIFECYCLE} writes each): ${l32.perSecond.toFixed(2)} / ${ceilingLifecycles.toFixed(1)} = ${((100 * l32.perSecond) / ceilingLifecycles).toFixed(0)}%`);
    goal(s32.p99 < 1000, `submit p99 at 32 < 1 s: ${s32.p99.toFixed(0)} ms`);
    goal(s1.p50 <= 2 * s1.writeP50, `submit p50 ≤ 2 × its ledger write (concurrency 1): ${s1.p50.toFixed(1)} / ${s1.writeP50.toFixed(1)} ms = ${(s1.p50 / s1.writeP50).toFixed(1)} ×`);
    goal(grantLag <= 50, `grant live ≤ 50 ms after the approving commit (p50 of Active − Approved): ${grantLag.toFixed(0)} ms`);
    console.log(`The process (stack, app and load) used ${s8.cpu.toFixed(2)} / ${s32.cpu.toFixed(2)} cores at submit concurrency 8 / 32, ${l8.cpu.toFixed(2)} / ${l32.cpu.toFixed(2)} for lifecycles: one event loop tops out near 1.`);
    console.log('----  cost of the sweep, the reminder timer, a revoke and an audit page at 1,000 vs 20,000 stored requests: not measured by this bench');
    const failed = phases.some((p) => p.errors.length > 0);
    return failed ? 1 : 0;
  } finally {
    await stack?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
