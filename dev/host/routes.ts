/**
 * Route templates as the Functions host (ASP.NET Core routing) reads them: literal segments match
 * case-insensitively, `{name}` takes one segment, `{name?}` may be left off at the end,
 * `{name:constraint}` restricts the value and `{*name}` takes the rest of the path.
 */

type Constraint = (value: string) => boolean;

interface LiteralSegment {
  kind: 'literal';
  text: string;
}

interface ParameterSegment {
  kind: 'parameter';
  name: string;
  optional: boolean;
  catchAll: boolean;
  constraints: Constraint[];
}

type Segment = LiteralSegment | ParameterSegment;

export interface CompiledRoute {
  readonly template: string;
  readonly segments: readonly Segment[];
  /** Lower sorts first: literals beat constrained parameters beat plain ones beat catch-alls. */
  readonly precedence: string;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function lengthArgument(name: string, args: string): number {
  const value = Number(args);
  if (!Number.isInteger(value) || value < 0) throw new Error(`Route constraint ${name}(${args}) needs a whole number`);
  return value;
}

function integerRange(value: string, min: bigint, max: bigint): boolean {
  if (!/^-?\d+$/.test(value)) return false;
  const number = BigInt(value);
  return number >= min && number <= max;
}

function parseConstraint(text: string): Constraint {
  const match = /^([a-z]+)(?:\((.*)\))?$/i.exec(text);
  if (!match) throw new Error(`Unsupported route constraint '${text}'`);
  const name = match[1].toLowerCase();
  const args = match[2];
  switch (name) {
    case 'guid': return (v) => GUID.test(v);
    case 'int': return (v) => integerRange(v, -(2n ** 31n), 2n ** 31n - 1n);
    case 'long': return (v) => integerRange(v, -(2n ** 63n), 2n ** 63n - 1n);
    case 'alpha': return (v) => /^[a-z]+$/i.test(v);
    case 'bool': return (v) => /^(true|false)$/i.test(v);
    case 'minlength': { const n = lengthArgument(name, args ?? ''); return (v) => v.length >= n; }
    case 'maxlength': { const n = lengthArgument(name, args ?? ''); return (v) => v.length <= n; }
    case 'length': {
      const [a, b] = (args ?? '').split(',').map((part) => part.trim());
      const min = lengthArgument(name, a);
      const max = b === undefined ? min : lengthArgument(name, b);
      return (v) => v.length >= min && v.length <= max;
    }
    default:
      throw new Error(`Unsupported route constraint '${text}' (supported: guid, int, long, alpha, bool, minlength, maxlength, length)`);
  }
}

function parseParameter(body: string, template: string): ParameterSegment {
  const catchAll = body.startsWith('*');
  const withoutStar = catchAll ? body.replace(/^\*+/, '') : body;
  const optional = withoutStar.endsWith('?');
  const core = optional ? withoutStar.slice(0, -1) : withoutStar;
  if (core.includes('=')) throw new Error(`Route '${template}': default values are not supported`);
  const [name, ...constraintTexts] = core.split(':');
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`Route '${template}': bad parameter name '${name}'`);
  return { kind: 'parameter', name, optional, catchAll, constraints: constraintTexts.map(parseConstraint) };
}

export function compileRoute(template: string): CompiledRoute {
  const trimmed = template.replace(/^\/+|\/+$/g, '');
  const parts = trimmed === '' ? [] : trimmed.split('/');
  const segments = parts.map((part): Segment => {
    if (part === '') throw new Error(`Route '${template}' has an empty segment`);
    const parameter = /^\{([^{}]+)\}$/.exec(part);
    if (parameter) return parseParameter(parameter[1], template);
    if (/[{}]/.test(part)) throw new Error(`Route '${template}': segment '${part}' mixes text and parameters, which the local host does not support`);
    return { kind: 'literal', text: part };
  });
  segments.forEach((segment, index) => {
    if (segment.kind !== 'parameter') return;
    const last = index === segments.length - 1;
    if (segment.catchAll && !last) throw new Error(`Route '${template}': a catch-all parameter must be the last segment`);
    if (segment.optional && !segments.slice(index + 1).every((s) => s.kind === 'parameter' && s.optional)) {
      throw new Error(`Route '${template}': an optional parameter may only be followed by optional parameters`);
    }
  });
  const names = segments.filter((s): s is ParameterSegment => s.kind === 'parameter').map((s) => s.name.toLowerCase());
  if (new Set(names).size !== names.length) throw new Error(`Route '${template}' repeats a parameter name`);
  const precedence = segments
    .map((s) => (s.kind === 'literal' ? '1' : s.catchAll ? '5' : s.optional ? '4' : s.constraints.length ? '2' : '3'))
    .join('');
  return { template: trimmed, segments, precedence };
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

/** The route's parameters when `path` (without the route prefix, no leading slash) matches, else undefined. */
export function matchRoute(route: CompiledRoute, path: string): Record<string, string> | undefined {
  const parts = path === '' ? [] : path.replace(/\/+$/, '').split('/');
  const params: Record<string, string> = {};
  let index = 0;
  for (const segment of route.segments) {
    if (segment.kind === 'literal') {
      const decoded = parts[index] === undefined ? undefined : safeDecode(parts[index]);
      if (decoded === undefined || decoded.toLowerCase() !== segment.text.toLowerCase()) return undefined;
      index += 1;
      continue;
    }
    if (segment.catchAll) {
      const rest = parts.slice(index);
      const decoded = rest.map(safeDecode);
      if (decoded.some((d) => d === undefined)) return undefined;
      // A catch-all may match nothing, as in ASP.NET routing.
      const value = decoded.join('/');
      if (value !== '' && !segment.constraints.every((ok) => ok(value))) return undefined;
      if (value !== '') params[segment.name] = value;
      index = parts.length;
      continue;
    }
    if (parts[index] === undefined) {
      if (segment.optional) continue;
      return undefined;
    }
    const value = safeDecode(parts[index]);
    if (value === undefined || value === '' || !segment.constraints.every((ok) => ok(value))) return undefined;
    params[segment.name] = value;
    index += 1;
  }
  return index === parts.length ? params : undefined;
}

export function compareRoutes(a: CompiledRoute, b: CompiledRoute): number {
  const length = Math.max(a.precedence.length, b.precedence.length);
  const left = a.precedence.padEnd(length, '0');
  const right = b.precedence.padEnd(length, '0');
  return left < right ? -1 : left > right ? 1 : 0;
}
