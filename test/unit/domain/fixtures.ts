import { readFileSync } from 'fs';
import { join } from 'path';
import { parsePolicy } from '../../../shared/domain/policy/parse';
import type { Policy } from '../../../shared/domain/policy/types';
import type { Caller } from '../../../shared/domain/eligibility';
import { applyEvent, type AccessRequest, type RequestEvent } from '../../../shared/domain/lifecycle';

export const REPO_ROOT = join(__dirname, '..', '..', '..');
export const CONTOSO_POLICY_PATH = join(REPO_ROOT, 'examples', 'contoso', 'policy.yaml');

// Copied from dev/personas.ts (tests of the domain do not load dev/).
export const G = {
  securityTeam: '76891f9e-0de4-4e47-a3fd-e29f364921cd',
  appDevOps: '32aa04a7-4444-4715-9a60-d45fcccbabb5',
  appAuditors: 'f9622bb7-ad63-49bc-82c8-56fbba780d83',
} as const;

export const OID = {
  sam: '5424e0a9-6ba3-45e2-9d82-85a9cc74171d',
  sara: 'f2382c12-65b1-460c-b2e7-2d66701431c0',
  sean: 'e1cc2b03-5735-4d22-8236-12a6ab32c763',
  dave: '118a1582-3083-4290-99fa-f8a33f52b810',
  dana: '8d500ad7-d78d-418a-a185-59f87ea54310',
  alice: 'b8703ff7-fafb-473a-922d-15e754ce5ac4',
  breakGlass: 'e81db592-9cdf-42f2-95ec-92e909525cfb',
  appVm: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e',
  logStorage: 'efc6957b-07d7-46db-8ba9-220e20eb43fb',
  hsmGovernor: '4676f00a-cb08-4ca8-b55d-12e3894049c1',
} as const;

export const CALLERS: Record<string, Caller> = {
  sam: { objectId: OID.sam, groups: [G.securityTeam] },
  sara: { objectId: OID.sara, groups: [G.securityTeam] },
  sean: { objectId: OID.sean, groups: [G.securityTeam] },
  dave: { objectId: OID.dave, groups: [G.appDevOps] },
  dana: { objectId: OID.dana, groups: [G.appDevOps] },
  alice: { objectId: OID.alice, groups: [G.appAuditors] },
  breakGlass: { objectId: OID.breakGlass, groups: [] },
  appVm: { objectId: OID.appVm, groups: [] },
};

export function contosoPolicyText(): string {
  return readFileSync(CONTOSO_POLICY_PATH, 'utf8');
}

export function contosoPolicy(): Policy {
  return parsePolicy(contosoPolicyText(), 'examples/contoso/policy.yaml');
}

export const NOW = new Date('2030-01-01T10:00:00.000Z');

/** A small valid policy to mutate in tests. */
export const MINIMAL_POLICY = `version: 1
hsms:
  - name: h1
    url: https://h1.managedhsm.azure.net
principals:
  alice: { objectId: ${OID.alice}, type: User }
  sam: { objectId: ${OID.sam}, type: User }
  sec: { objectId: ${G.securityTeam}, type: Group, members: [sam] }
  app: { objectId: ${OID.appVm}, type: ServicePrincipal }
eligibility:
  - id: r1
    requesters: [alice]
    for: self
    roles: [Crypto User]
    scopes: [/keys/*]
    defaultDuration: PT1H
    maxDuration: PT2H
    approval:
      approvers: [sec]
      count: 1
`;

/** The request after these events at NOW; a refused event fails the test. */
export function applied(request: AccessRequest, ...events: RequestEvent[]): AccessRequest {
  return events.reduce((current, event) => {
    const next = applyEvent(current, event, NOW);
    if (!next.ok) throw new Error(next.detail);
    return next.request;
  }, request);
}
