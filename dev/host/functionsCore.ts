/**
 * Our stand-in for `@azure/functions-core`, the module the Azure Functions Node.js worker injects.
 * `@azure/functions` v4 registers every `app.http`/`app.timer`/... through it; outside a host the
 * library finds no such module and silently registers nothing ("test mode"). Resolving the name to
 * this file lets the local host capture the very registrations Azure would run.
 *
 * State lives on a global symbol so that every copy of this module in one process (ts-node, jest's
 * module registry) shares one registry.
 */

export interface CoreBinding {
  type: string;
  direction: 'in' | 'out';
  name?: string;
  [option: string]: unknown;
}

export interface CoreFunctionMetadata {
  name: string;
  bindings: Record<string, CoreBinding>;
  retryOptions?: unknown;
}

export type CoreFunctionCallback = (...args: unknown[]) => unknown;

export interface CapturedFunction {
  readonly metadata: CoreFunctionMetadata;
  readonly handler: CoreFunctionCallback;
}

export type CoreHookName = 'appStart' | 'appTerminate' | 'preInvocation' | 'postInvocation' | 'log';
export type CoreHookCallback = (context: Record<string, unknown>) => unknown;

export type CoreLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';
export type CoreLogCategory = 'user' | 'system' | 'customMetric';
export type CoreLogSink = (level: CoreLogLevel, category: CoreLogCategory, message: string) => void;

export interface Disposable {
  dispose(): void;
}

interface CoreState {
  programmingModel: unknown;
  /** Registrations made since the last `beginCapture()`; undefined when nobody is capturing. */
  capturing: CapturedFunction[] | undefined;
  /** Registrations made while no capture was open (a module imported before a host started). */
  uncaptured: CapturedFunction[];
  /** What each entry module registered when first loaded; a cached module does not register twice. */
  byEntry: Map<string, CapturedFunction[]>;
  hooks: Map<CoreHookName, Set<CoreHookCallback>>;
  logSink: CoreLogSink | undefined;
}

const STATE_KEY = Symbol.for('hsm-access-governor.local-functions-core');

function state(): CoreState {
  const holder = globalThis as unknown as Record<symbol, CoreState | undefined>;
  let current = holder[STATE_KEY];
  if (!current) {
    current = { programmingModel: undefined, capturing: undefined, uncaptured: [], byEntry: new Map(), hooks: new Map(), logSink: undefined };
    holder[STATE_KEY] = current;
  }
  return current;
}

export function setProgrammingModel(programmingModel: unknown): void {
  state().programmingModel = programmingModel;
}

export function getProgrammingModel(): unknown {
  return state().programmingModel;
}

export function registerFunction(metadata: CoreFunctionMetadata, handler: CoreFunctionCallback): Disposable {
  if (!metadata || typeof metadata.name !== 'string' || !metadata.name) throw new Error('registerFunction: metadata.name is required');
  if (typeof handler !== 'function') throw new Error(`registerFunction: function '${metadata.name}' has no handler`);
  const current = state();
  const list = current.capturing ?? current.uncaptured;
  if (list.some((existing) => existing.metadata.name.toLowerCase() === metadata.name.toLowerCase())) {
    throw new Error(`A function with the name '${metadata.name}' has already been registered.`);
  }
  const captured: CapturedFunction = { metadata, handler };
  list.push(captured);
  return {
    dispose: () => {
      const index = list.indexOf(captured);
      if (index >= 0) list.splice(index, 1);
    },
  };
}

export function registerHook(hookName: CoreHookName, callback: CoreHookCallback): Disposable {
  const known: CoreHookName[] = ['appStart', 'appTerminate', 'preInvocation', 'postInvocation', 'log'];
  if (!known.includes(hookName)) {
    // The library maps a RangeError flagged as a system error to its "host too old" message.
    const error = new RangeError(`Unknown hook '${String(hookName)}'`) as RangeError & { isAzureFunctionsSystemError: boolean };
    error.isAzureFunctionsSystemError = true;
    throw error;
  }
  const hooks = state().hooks;
  const set = hooks.get(hookName) ?? new Set<CoreHookCallback>();
  hooks.set(hookName, set);
  set.add(callback);
  return { dispose: () => void set.delete(callback) };
}

export function log(level: CoreLogLevel, category: CoreLogCategory, message: string): void {
  const sink = state().logSink;
  if (sink) sink(level, category, message);
  else if (level === 'error' || level === 'critical') console.error(message);
  else if (level === 'warning') console.warn(message);
}

// ---- host side (not part of the worker's API) ----

export function beginCapture(): void {
  const current = state();
  if (current.capturing) throw new Error('Another Functions host is loading its app in this process right now.');
  current.capturing = [];
}

export function endCapture(entryPath: string): CapturedFunction[] {
  const current = state();
  const captured = current.capturing ?? [];
  current.capturing = undefined;
  if (captured.length > 0) current.byEntry.set(entryPath, captured);
  return current.byEntry.get(entryPath) ?? [];
}

export function abortCapture(): void {
  state().capturing = undefined;
}

export function uncapturedRegistrations(): readonly CapturedFunction[] {
  return state().uncaptured;
}

export function hooksFor(hookName: CoreHookName): CoreHookCallback[] {
  return [...(state().hooks.get(hookName) ?? [])];
}

export function setLogSink(sink: CoreLogSink | undefined): void {
  state().logSink = sink;
}
