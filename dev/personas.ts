/**
 * The Contoso example's directory: who exists, in which groups. The same object ids appear in
 * examples/contoso/policy.yaml and in the HSM emulator's Contoso seed.
 */
export const TENANT_ID = 'a7f8a5ce-8fe6-4690-942d-d7a0682c5867';

export const GROUPS = {
  securityTeam: { oid: '76891f9e-0de4-4e47-a3fd-e29f364921cd', name: 'Contoso Security Team' },
  appDevOps: { oid: '32aa04a7-4444-4715-9a60-d45fcccbabb5', name: 'Contoso App DevOps' },
  appAuditors: { oid: 'f9622bb7-ad63-49bc-82c8-56fbba780d83', name: 'Contoso App Auditors' },
} as const;

export type PersonaType = 'User' | 'ServicePrincipal';

export interface Persona {
  readonly oid: string;
  readonly name: string;
  readonly upn: string;
  readonly type: PersonaType;
  readonly groups: readonly string[];
}

export const PERSONAS = {
  sam: { oid: '5424e0a9-6ba3-45e2-9d82-85a9cc74171d', name: 'Sam Security', upn: 'sam@contoso.example', type: 'User', groups: [GROUPS.securityTeam.oid] },
  sara: { oid: 'f2382c12-65b1-460c-b2e7-2d66701431c0', name: 'Sara Security', upn: 'sara@contoso.example', type: 'User', groups: [GROUPS.securityTeam.oid] },
  sean: { oid: 'e1cc2b03-5735-4d22-8236-12a6ab32c763', name: 'Sean Security', upn: 'sean@contoso.example', type: 'User', groups: [GROUPS.securityTeam.oid] },
  dave: { oid: '118a1582-3083-4290-99fa-f8a33f52b810', name: 'Dave DevOps', upn: 'dave@contoso.example', type: 'User', groups: [GROUPS.appDevOps.oid] },
  dana: { oid: '8d500ad7-d78d-418a-a185-59f87ea54310', name: 'Dana DevOps', upn: 'dana@contoso.example', type: 'User', groups: [GROUPS.appDevOps.oid] },
  alice: { oid: 'b8703ff7-fafb-473a-922d-15e754ce5ac4', name: 'Alice Auditor', upn: 'alice@contoso.example', type: 'User', groups: [GROUPS.appAuditors.oid] },
  'break-glass': { oid: 'e81db592-9cdf-42f2-95ec-92e909525cfb', name: 'Break Glass', upn: 'break-glass@contoso.example', type: 'User', groups: [] },
  'app-vm': { oid: '2c564836-0f4a-4ada-9cc4-6b2363d7a09e', name: 'app-vm (managed identity)', upn: 'app-vm', type: 'ServicePrincipal', groups: [] },
  'log-storage': { oid: 'efc6957b-07d7-46db-8ba9-220e20eb43fb', name: 'contosologstorage (managed identity)', upn: 'log-storage', type: 'ServicePrincipal', groups: [] },
  'hsm-governor': { oid: '4676f00a-cb08-4ca8-b55d-12e3894049c1', name: 'hsm-access-governor (managed identity)', upn: 'hsm-governor', type: 'ServicePrincipal', groups: [] },
} as const satisfies Record<string, Persona>;

export type PersonaName = keyof typeof PERSONAS;

/** The identity the function app runs as (its managed identity in Azure). */
export const SERVICE_PERSONA: PersonaName = 'hsm-governor';

export function persona(name: string): Persona {
  const found = (PERSONAS as Record<string, Persona>)[name];
  if (!found) throw new Error(`Unknown persona '${name}'. Known: ${Object.keys(PERSONAS).join(', ')}`);
  return found;
}

export function personaByOid(oid: string): [PersonaName, Persona] | undefined {
  const entry = Object.entries(PERSONAS).find(([, p]) => p.oid === oid);
  return entry as [PersonaName, Persona] | undefined;
}
