/**
 * Managed HSM local RBAC scopes. Only three shapes exist: `/` (the whole HSM), `/keys` (all keys)
 * and `/keys/{name}` (one key, all its versions). Everything else is refused rather than
 * "cleaned up": a scope that needs cleaning is a scope someone is trying to smuggle.
 */

export type ScopeResult = { ok: true; scope: string } | { ok: false; detail: string };

/** Key Vault key names: 1-127 letters, digits and dashes. */
export const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;

/** The only pattern form: any single key (`/keys/{name}`), never `/keys` or `/` itself. */
export const ANY_KEY_PATTERN = '/keys/*';

const MAX_SCOPE_LENGTH = 6 + 127;

/**
 * Validates a scope and returns its canonical form (key names lower-cased: Key Vault names are
 * case-insensitive).
 */
export function normalizeScope(raw: unknown): ScopeResult {
  if (typeof raw !== 'string') return { ok: false, detail: 'scope must be a string' };
  if (raw.length === 0) return { ok: false, detail: 'scope is empty' };
  if (raw.length > MAX_SCOPE_LENGTH) return { ok: false, detail: 'scope is too long' };
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\uffff]/.test(raw)) return { ok: false, detail: 'scope contains whitespace, control or non-ASCII characters' };
  if (raw.includes('%')) return { ok: false, detail: 'scope contains percent-encoded characters' };
  if (raw.includes('\\')) return { ok: false, detail: 'scope contains a backslash' };
  if (!raw.startsWith('/')) return { ok: false, detail: `scope must start with '/'${scopeSuggestion(raw)}` };
  if (raw === '/') return { ok: true, scope: '/' };
  if (raw.includes('//')) return { ok: false, detail: "scope contains an empty segment ('//')" };
  if (raw.endsWith('/')) return { ok: false, detail: 'scope has a trailing slash' };
  const segments = raw.slice(1).split('/');
  if (segments.some((s) => s === '.' || s === '..')) return { ok: false, detail: "scope contains a '.' or '..' segment" };
  if (segments[0] !== 'keys') return { ok: false, detail: "scope must be '/', '/keys' or '/keys/{key-name}'" };
  if (segments.length === 1) return { ok: true, scope: '/keys' };
  if (segments.length > 2) return { ok: false, detail: "scope must be '/', '/keys' or '/keys/{key-name}'" };
  const name = segments[1] as string;
  if (!KEY_NAME.test(name)) return { ok: false, detail: `'${name}' is not a valid key name (1-127 letters, digits and dashes)` };
  return { ok: true, scope: `/keys/${name.toLowerCase()}` };
}

/** What a scope written without its leading '/' (or without `/keys/`) probably meant. */
function scopeSuggestion(raw: string): string {
  if (raw === 'keys' || (raw.startsWith('keys/') && KEY_NAME.test(raw.slice('keys/'.length)))) return `: did you mean '/${raw}'?`;
  if (KEY_NAME.test(raw)) return `: did you mean '/keys/${raw}' (the key '${raw}')?`;
  return " ('/', '/keys' or '/keys/{key-name}')";
}

/** A pattern is an exact (valid) scope or `/keys/*`. Returns the canonical pattern. */
export function normalizeScopePattern(raw: unknown): ScopeResult {
  if (raw === ANY_KEY_PATTERN) return { ok: true, scope: ANY_KEY_PATTERN };
  const result = normalizeScope(raw);
  if (!result.ok) return { ok: false, detail: `${result.detail} (patterns are an exact scope or '${ANY_KEY_PATTERN}')` };
  return result;
}

/** Whether a (normalized) scope matches a (normalized) pattern. */
export function scopeMatchesPattern(pattern: string, scope: string): boolean {
  if (pattern === ANY_KEY_PATTERN) {
    if (!scope.startsWith('/keys/')) return false;
    return KEY_NAME.test(scope.slice('/keys/'.length));
  }
  return pattern === scope;
}
