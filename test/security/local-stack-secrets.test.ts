// Keeps out: reading the host key, the topic key or another secret of the local stack from one of its unauthenticated endpoints or pages.
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { useStack } from '../helpers/stack';

/** GET over HTTPS trusting the emulator's own CA (fetch cannot be given one). */
function getTls(url: string, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    }).on('error', reject).end();
  });
}

const stack = useStack();

/** Every secret the stack holds, in the spellings a URL or a page would carry. */
function secrets(): Array<[string, string]> {
  const { endpoints, dataDir, idp } = stack().stack;
  const hostKeys = JSON.parse(readFileSync(join(dataDir, 'host-keys.json'), 'utf8')) as { hostKey: string; sessionSecret: string };
  const raw: Array<[string, string]> = [
    ['host key', hostKeys.hostKey],
    ['session secret', hostKeys.sessionSecret],
    ['topic key', endpoints.eventGridKey],
    ['managed identity header', idp.identityHeader],
  ];
  return raw.flatMap(([name, value]) => [[name, value], [`${name} (URL-encoded)`, encodeURIComponent(value)]] as Array<[string, string]>);
}

/** The introspection endpoints and pages of every local server, each read without credentials. */
async function everyOpenPage(): Promise<Array<[string, string]>> {
  const { endpoints, eventGrid, hsm, arm, mailSink, teamsSink, idp } = stack().stack;
  const grid = new URL(eventGrid.endpoint).origin;
  const pages: Array<[string, () => Promise<string>]> = [
    ...['/_emulator/subscriptions', '/_emulator/deliveries', '/_emulator/events'].map((path): [string, () => Promise<string>] => [`event grid ${path}`, () => getTls(`${grid}${path}`, eventGrid.caPem)]),
    ...['/_emulator/assignments', '/_emulator/faults'].map((path): [string, () => Promise<string>] => [`hsm ${path}`, () => getTls(`${hsm.url}${path}`, hsm.caPem)]),
    ...['/_emulator/assignments', '/_emulator/schedules', '/_emulator/faults'].map((path): [string, () => Promise<string>] => [`arm ${path}`, () => getTls(`${arm.url}${path}`, arm.caPem)]),
    ...['/personas', '/.well-known/openid-configuration', '/keys'].map((path): [string, () => Promise<string>] => [`identity provider ${path}`, async () => (await fetch(`${idp.url}${path}`)).text()]),
    ...['/', '/api/messages'].map((path): [string, () => Promise<string>] => [`mail sink ${path}`, async () => (await fetch(`${mailSink.url}${path}`)).text()]),
    ...['/', '/api/messages', '/api/attempts'].map((path): [string, () => Promise<string>] => [`teams sink ${path}`, async () => (await fetch(`${teamsSink.url}${path}`)).text()]),
    ...['/', '/.auth/me', '/.auth/login/dev', '/api/health'].map((path): [string, () => Promise<string>] => [`host ${path}`, async () => (await fetch(`${endpoints.api}${path}`, { redirect: 'manual' })).text()]),
  ];
  return Promise.all(pages.map(async ([name, read]): Promise<[string, string]> => [name, await read()]));
}

it('no open endpoint or page of the local stack shows a secret', async () => {
  const pages = await everyOpenPage();
  const leaks = pages.flatMap(([page, body]) => secrets().filter(([, value]) => body.includes(value)).map(([secret]) => `${page} shows the ${secret}`));
  expect(leaks).toEqual([]);
});

it('the subscription into the app still shows where it delivers, without its code', async () => {
  const { eventGrid } = stack().stack;
  const listed = JSON.parse(await getTls(`${new URL(eventGrid.endpoint).origin}/_emulator/subscriptions`, eventGrid.caPem)) as Array<{ name: string; endpoint: string }>;
  const inbound = listed.find((subscription) => subscription.name === 'governor-inbound-requests');
  expect(inbound?.endpoint).toMatch(/\/runtime\/webhooks\/eventgrid\?functionName=events-submit&code=\*+$/);
});

it('the app publishes to the topic with its managed identity, not with the topic key', () => {
  expect(stack().stack.appSettings.EVENTGRID_TOPIC_KEY).toBeUndefined();
});
