import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, relative } from 'node:path';
import { startEventGridEmulator, type EventGridEmulator, type EventSchema } from '../../dev/eventgrid-emulator';
import { startIdentityProvider, type IdentityProvider } from '../../dev/idp/server';
import { PERSONAS, SERVICE_PERSONA } from '../../dev/personas';

/**
 * Conformance: recorded sessions of real Event Grid topics and the REST specification's publish
 * example, replayed against the topic emulator with a Microsoft Entra token (as the app publishes):
 * the recorded status, the recorded service headers, and the recorded error codes.
 */
const RECORDINGS = join(__dirname, '..', 'fixtures', 'eventgrid-recordings');
const SERVICE_HEADERS = ['api-supported-versions', 'strict-transport-security', 'x-ms-request-id'];

interface Entry {
  RequestUri: string;
  RequestMethod: string;
  RequestHeaders: Record<string, string>;
  RequestBody: string | null;
  StatusCode: number;
  ResponseHeaders: Record<string, string>;
  ResponseBody: string | null;
}

function files(directory: string): string[] {
  if (!existsSync(directory)) return [];
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(directory, entry.name)) : entry.name.endsWith('.json') && entry.name !== 'SOURCES.json' ? [join(directory, entry.name)] : [],
  );
}

/** A REST specification example, read as the one exchange it describes. */
function exampleAsEntry(example: { parameters: { topicHostname: string; 'api-version': string; events: unknown[] }; responses: Record<string, unknown> }): Entry {
  return {
    RequestUri: `https://${example.parameters.topicHostname}/api/events?api-version=${example.parameters['api-version']}`,
    RequestMethod: 'POST',
    RequestHeaders: { 'Content-Type': 'application/cloudevents-batch+json; charset=utf-8' },
    RequestBody: JSON.stringify(example.parameters.events),
    StatusCode: Number(Object.keys(example.responses)[0]),
    ResponseHeaders: { 'api-supported-versions': '2018-01-01', 'Strict-Transport-Security': 'max-age=31536000; includeSubDomains', 'x-ms-request-id': 'from the service' },
    ResponseBody: null,
  };
}

function entriesOf(file: string): Entry[] {
  const content = JSON.parse(readFileSync(file, 'utf8')) as { Entries?: Entry[] };
  return content.Entries ?? [exampleAsEntry(content as Parameters<typeof exampleAsEntry>[0])];
}

function send(topic: EventGridEmulator, entry: Entry, token: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const contentType = Object.entries(entry.RequestHeaders).find(([name]) => name.toLowerCase() === 'content-type')?.[1] ?? 'application/json';
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: new URL(topic.endpoint).port, method: entry.RequestMethod, path: entry.RequestUri.replace(/^https:\/\/[^/]+/, ''), ca: topic.caPem, headers: { 'content-type': contentType, authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(entry.RequestBody ?? undefined);
  });
}

/** A topic of the schema the recorded publisher used: its content type says which. */
const schemaOf = (entry: Entry): EventSchema => (/cloudevents/i.test(Object.values(entry.RequestHeaders).join(' ')) ? 'CloudEventSchemaV1_0' : 'EventGridSchema');

const recordings = files(RECORDINGS).map((file): [string, string] => [relative(RECORDINGS, file), file]);
let idp: IdentityProvider;
let token: string;

beforeAll(async () => {
  idp = await startIdentityProvider();
  token = await idp.issueToken(SERVICE_PERSONA, { audience: 'https://eventgrid.azure.net' });
});

afterAll(async () => {
  await idp.close();
});

it('finds the recorded sessions and examples', () => {
  expect(recordings.length).toBeGreaterThanOrEqual(4);
});

describe.each(recordings)('replays %s', (_name, file) => {
  it('with the recorded status, service headers and error codes, publishing with an Entra token', async () => {
    for (const entry of entriesOf(file)) {
      const topic = await startEventGridEmulator({ inputSchema: schemaOf(entry), entra: { issuer: idp.issuer, jwk: idp.publicJwk, dataSenders: [PERSONAS[SERVICE_PERSONA].oid] } });
      try {
        const answer = await send(topic, entry, token);
        const where = `${entry.RequestMethod} ${entry.RequestUri}`;
        expect({ where, status: answer.status }).toEqual({ where, status: entry.StatusCode });
        const recordedHeaders = Object.keys(entry.ResponseHeaders).map((name) => name.toLowerCase());
        for (const name of SERVICE_HEADERS) expect({ where, [name]: answer.headers[name] !== undefined }).toEqual({ where, [name]: recordedHeaders.includes(name) });
        if (entry.StatusCode < 300) {
          expect(answer.text).toBe('');
          expect(topic.received()).toHaveLength((JSON.parse(entry.RequestBody ?? '[]') as unknown[]).length);
          continue;
        }
        const recorded = JSON.parse(Buffer.from(entry.ResponseBody ?? '', 'base64').toString('utf8')) as { error: { code: string; details: Array<{ code: string }> } };
        const body = JSON.parse(answer.text) as typeof recorded;
        expect(body.error.code).toBe(recorded.error.code);
        expect(body.error.details.map((detail) => detail.code)).toEqual(recorded.error.details.map((detail) => detail.code));
        expect(topic.received()).toEqual([]);
      } finally {
        await topic.close();
      }
    }
  });
});
