import type { CapturedFunction, CoreBinding, CoreFunctionCallback } from './functionsCore';

export type TriggerKind = 'http' | 'timer' | 'eventGrid' | 'queue' | 'blob';

/** One function as registered by the app, with its trigger's options exactly as the library sent them. */
export interface FunctionRegistration {
  readonly name: string;
  readonly kind: TriggerKind;
  /** The trigger binding: `type`, `name`, and its options (`route`, `methods`, `authLevel`, `schedule`, `runOnStartup`, `queueName`, ...). */
  readonly trigger: Readonly<CoreBinding>;
  readonly bindings: Readonly<Record<string, CoreBinding>>;
  readonly handler: CoreFunctionCallback;
}

const TRIGGER_KINDS: Record<string, TriggerKind> = {
  httptrigger: 'http',
  timertrigger: 'timer',
  eventgridtrigger: 'eventGrid',
  queuetrigger: 'queue',
  blobtrigger: 'blob',
};

const SUPPORTED_OUTPUTS = new Set(['http', 'queue']);

function describe(binding: CoreBinding): string {
  return `${binding.direction} binding '${String(binding.name ?? '?')}' of type '${binding.type}'`;
}

/**
 * Turns what the library registered into something the host can serve, refusing (rather than
 * silently ignoring) any trigger or binding the local host cannot honour.
 */
export function toRegistration(captured: CapturedFunction): FunctionRegistration {
  const { metadata, handler } = captured;
  const bindings = Object.entries(metadata.bindings ?? {});
  const triggers = bindings.filter(([, b]) => b.direction === 'in' && /trigger$/i.test(b.type));
  if (triggers.length !== 1) throw new Error(`Function '${metadata.name}' must have exactly one trigger, found ${triggers.length}`);
  const [, trigger] = triggers[0];
  const kind = TRIGGER_KINDS[trigger.type.toLowerCase()];
  if (!kind) {
    throw new Error(`Function '${metadata.name}': trigger type '${trigger.type}' is not supported by the local host (supported: httpTrigger, timerTrigger, eventGridTrigger, queueTrigger, blobTrigger)`);
  }
  // Flex Consumption has no polling blob trigger: only the Event Grid source is served, as there.
  if (kind === 'blob' && String(trigger.source ?? '').toLowerCase() !== 'eventgrid') {
    throw new Error(`Function '${metadata.name}': a blob trigger needs source: 'EventGrid' (the polling LogsAndContainerScan source is not served by the local host, nor on Flex Consumption)`);
  }
  for (const [, binding] of bindings) {
    if (binding === trigger) continue;
    if (binding.direction === 'in') throw new Error(`Function '${metadata.name}': ${describe(binding)} is not supported by the local host`);
    if (!SUPPORTED_OUTPUTS.has(binding.type)) {
      throw new Error(`Function '${metadata.name}': ${describe(binding)} is not supported by the local host (supported outputs: http, queue)`);
    }
    if (binding.type === 'http' && kind !== 'http') throw new Error(`Function '${metadata.name}': an http output needs an http trigger`);
  }
  return { name: metadata.name, kind, trigger, bindings: metadata.bindings, handler };
}

export function outputBindings(registration: FunctionRegistration): Array<[string, CoreBinding]> {
  return Object.entries(registration.bindings).filter(([, b]) => b.direction === 'out');
}

/** `%NAME%` in a trigger setting means "the value of app setting NAME", as in Azure. */
export function resolveAppSettingReference(value: string, env: NodeJS.ProcessEnv = process.env): string {
  return value.replace(/%([^%]+)%/g, (_match, name: string) => {
    const resolved = env[name];
    if (resolved === undefined) throw new Error(`App setting '${name}' (referenced as %${name}%) is not set`);
    return resolved;
  });
}
