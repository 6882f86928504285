import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createAppContext, LEDGER_TABLE } from '../../shared/app';
import { EventGridPublisher } from '../../shared/adapters/eventgrid';
import { ALL_PARTITIONS, PartitionedLedger } from '../../shared/adapters/storage/partitionedLedger';
import { TableOutbox } from '../../shared/adapters/storage/outbox';
import { OutboxDrainer } from '../../shared/services/outbox';
import { requestEventsBetween, type AccessRequest } from '../../shared/domain';
import { sleep, waitUntil } from '../helpers/poll';
import { useStack } from '../helpers/stack';
import { SILENT_LOG } from '../helpers/workflow';

/**
 * The outbox under real process death: a worker process runs the workflow and is killed with SIGKILL
 * at random moments (mid-commit, mid-publish, between publishing and deleting). A fresh instance then
 * drains. Whatever the moment, the topic holds exactly the events the stored requests' histories
 * imply: none lost, none invented, none different under the same id.
 */
const stack = useStack();
const WORKER = join(__dirname, '..', 'fixtures', 'outbox-worker', 'index.ts');
const KILLS = 4;
const LEASE_LAPSED_MS = 61_000;

function startWorker(settings: Record<string, string>): { child: ChildProcess; committed: () => number; exited: Promise<void> } {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', WORKER], {
    env: { ...process.env, WORKER_SETTINGS: JSON.stringify(settings) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let lines = 0;
  let errors = '';
  child.stdout!.on('data', (chunk: Buffer) => (lines += chunk.toString().split('\n').filter(Boolean).length));
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const exited = new Promise<void>((resolve, reject) =>
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`worker exited by itself (${code}): ${errors}`)))),
  );
  return { child, committed: () => lines, exited };
}

it(`loses and invents no event when the process is killed at ${KILLS} random moments`, async () => {
  const settings = { ...stack().stack.appSettings };
  for (let kill = 0; kill < KILLS; kill++) {
    const worker = startWorker(settings);
    // Let it commit a few changes, then kill it somewhere inside the next one.
    const target = 2 + Math.floor(Math.random() * 4);
    // A generous deadline: on a loaded machine a fresh worker can take long to load and commit.
    await waitUntil(`the worker's first ${target} commits`, () => worker.committed() >= target, { timeoutMs: 240_000, intervalMs: 20 }).catch(
      (error: unknown) => {
        worker.child.kill('SIGKILL');
        throw error;
      },
    );
    await sleep(Math.random() * 150);
    worker.child.kill('SIGKILL');
    await worker.exited;
  }

  // A killed drainer's lease lapses after a minute; the fresh instance drains as it would by then.
  const fresh = createAppContext(settings);
  const grid = fresh.eventGrid!;
  // Every partition the killed workers wrote, each with its own lease.
  for (const partition of ALL_PARTITIONS) {
    const later = new OutboxDrainer({
      store: new TableOutbox(fresh.tableClient(LEDGER_TABLE), partition),
      publisher: new EventGridPublisher({ endpoint: grid.topicEndpoint, key: grid.topicKey!, caPem: grid.caPem! }, fresh.credential),
      clock: { now: () => new Date(Date.now() + LEASE_LAPSED_MS) },
      log: SILENT_LOG,
      holder: 'fresh-instance',
    });
    expect(await later.drain()).toMatchObject({ leased: true });
    expect(await later.drain()).toEqual({ leased: true, published: 0 });
  }

  const ledger = new PartitionedLedger(fresh.tableClient(LEDGER_TABLE));
  const requests: AccessRequest[] = [];
  for (let page = await ledger.list({ pageSize: 200 }); ; ) {
    requests.push(...page.items.map((item) => item.request));
    if (!page.continuation) break;
    page = await ledger.list({ pageSize: 200, continuation: page.continuation });
  }
  expect(requests.length).toBeGreaterThanOrEqual(KILLS);

  const source = fresh.eventGrid!.source;
  const expected = new Map(requests.flatMap((request) => requestEventsBetween(undefined, request, source)).map((event) => [event.id, event]));
  const received = stack().stack.eventGrid.received().map((r) => r.event as { id: string; type: string; subject: string; time: string; data: Record<string, unknown> });
  const byId = new Map<string, (typeof received)[number]>();
  for (const event of received) {
    const earlier = byId.get(event.id);
    // At least once: a repeat is allowed only as the very same event.
    if (earlier) expect(event).toEqual(earlier);
    byId.set(event.id, event);
  }
  expect([...byId.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [id, event] of expected) {
    // Request-level fields are those after each change; what the history says must match exactly.
    const { status, previousStatus, actor, reason } = event.data as Record<string, unknown>;
    expect(byId.get(id)).toMatchObject({ type: event.type, subject: event.subject, time: event.time, data: { status, previousStatus, actor, reason } });
  }
}, 1_200_000);
