import { context as otelContext, metrics as otelMetrics, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { logs, SeverityNumber } from '@opentelemetry/api-logs';
import { useInstrumenter } from '@azure/core-tracing';
import { createOpenTelemetryInstrumenter } from '@azure/opentelemetry-instrumentation-azure-sdk';
import type { Attributes, InvocationInfo, LogLevel, ServiceMetrics, TelemetryBackend } from './types';

/**
 * The back end both exporters share, on OpenTelemetry's global providers (registered by the caller):
 * one span per invocation, the Azure SDK's HTTP spans as its dependencies, the service's metrics.
 */

const NAME = 'hsm-access-governor';
const TRACE_PARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const KINDS = { server: SpanKind.SERVER, consumer: SpanKind.CONSUMER, internal: SpanKind.INTERNAL } as const;
const SEVERITY = { info: SeverityNumber.INFO, warn: SeverityNumber.WARN, error: SeverityNumber.ERROR } as const;

function parentContext(traceParent: string | undefined) {
  const match = TRACE_PARENT.exec(traceParent ?? '');
  if (!match) return ROOT_CONTEXT;
  const traceFlags = parseInt(match[3]!, 16) & TraceFlags.SAMPLED ? TraceFlags.SAMPLED : TraceFlags.NONE;
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: match[1]!, spanId: match[2]!, traceFlags, isRemote: true });
}

async function inSpan<T>(span: Span, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}

function serviceMetrics(): ServiceMetrics {
  const meter = otelMetrics.getMeter(NAME);
  const lag = meter.createHistogram('governor.revocation.lag', { unit: 's', description: 'From a grant’s expiry to its removal being confirmed' });
  const active = meter.createGauge('governor.grants.active', { description: 'Requests whose access is in force' });
  const pending = meter.createGauge('governor.approvals.pending', { description: 'Requests waiting for an approver' });
  const drift = meter.createHistogram('governor.drift.items', { description: 'Drift items one reconcile run found' });
  const throttled = meter.createCounter('governor.hsm.throttled', { description: 'Requests an HSM answered with 429' });
  return {
    revocationLag: (seconds, attributes = {}) => lag.record(seconds, attributes),
    activeGrants: (count) => active.record(count),
    pendingApprovals: (count) => pending.record(count),
    driftItems: (count, attributes) => drift.record(count, attributes),
    hsmThrottled: (attributes) => throttled.add(1, attributes),
  };
}

export function openTelemetryBackend(flush: () => Promise<void>): TelemetryBackend {
  // The Azure SDK clients trace through @azure/core-tracing; this copy (the bundle's) is told to use OpenTelemetry.
  useInstrumenter(createOpenTelemetryInstrumenter());
  const tracer = trace.getTracer(NAME);
  const logger = logs.getLogger(NAME);
  return {
    invocation: (info: InvocationInfo, run) =>
      tracer.startActiveSpan(
        info.functionName,
        { kind: KINDS[info.kind], attributes: { 'faas.name': info.functionName, 'faas.invocation_id': info.invocationId } },
        parentContext(info.traceParent),
        (span) => inSpan(span, () => run(span.spanContext().traceId)),
      ),
    dependency: (name, attributes, run) => tracer.startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, (span) => inSpan(span, run)),
    log: (level: LogLevel, message: string, attributes: Attributes) =>
      logger.emit({ severityNumber: SEVERITY[level], severityText: level.toUpperCase(), body: message, attributes, context: otelContext.active() }),
    metrics: serviceMetrics(),
    flush,
  };
}
