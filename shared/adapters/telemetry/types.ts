/** The telemetry port's shapes, apart from its implementation so that back ends need not import it. */

export type InvocationKind = 'server' | 'consumer' | 'internal';

export interface InvocationInfo {
  functionName: string;
  invocationId: string;
  /** The W3C traceparent the Functions host gave the invocation. */
  traceParent?: string | undefined;
  kind: InvocationKind;
}

/** What is known of the invocation running now (every log line and problem body carries it). */
export interface InvocationScope {
  readonly functionName: string;
  readonly invocationId: string;
  readonly traceId?: string | undefined;
}

export type LogLevel = 'info' | 'warn' | 'error';
export type Attributes = Record<string, string | number | boolean>;

export interface ServiceMetrics {
  /** Seconds from a grant's expiry to its removal being confirmed. */
  revocationLag(seconds: number, attributes?: Attributes): void;
  activeGrants(count: number): void;
  pendingApprovals(count: number): void;
  /** Drift items one reconcile run found, by kind and plane. */
  driftItems(count: number, attributes: Attributes): void;
  /** One 429 answered by an HSM. */
  hsmThrottled(attributes: Attributes): void;
}

/** What an OpenTelemetry back end provides; the no-op one stands in while telemetry is off. */
export interface TelemetryBackend {
  invocation<T>(info: InvocationInfo, run: (traceId: string | undefined) => Promise<T>): Promise<T>;
  dependency<T>(name: string, attributes: Attributes, run: () => Promise<T>): Promise<T>;
  log(level: LogLevel, message: string, attributes: Attributes): void;
  readonly metrics: ServiceMetrics;
  flush(): Promise<void>;
}
