import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { metrics } from '@opentelemetry/api';
import { logs } from '@opentelemetry/api-logs';
import { LoggerProvider, SimpleLogRecordProcessor, type LogRecordExporter, type ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { SimpleSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TelemetryBackend } from './types';
import { openTelemetryBackend } from './otel';

/**
 * Locally (TELEMETRY_FILE): the spans, metrics and log records the app would send to Application
 * Insights, one JSON object a line, so that tests and people can read them. Each line has a `type`
 * (`span`, `metric` or `log`); see docs/observability.md.
 */

const SUCCESS = { code: 0 } as const;
type Done = (result: { code: number; error?: Error }) => void;

const nanos = ([seconds, nanoseconds]: [number, number]): string => new Date(seconds * 1000 + nanoseconds / 1e6).toISOString();

function writer(file: string): (record: Record<string, unknown>) => void {
  mkdirSync(dirname(file), { recursive: true });
  return (record) => appendFileSync(file, `${JSON.stringify(record)}\n`);
}

function spanExporter(write: (record: Record<string, unknown>) => void): SpanExporter {
  return {
    export: (spans: ReadableSpan[], done: Done) => {
      for (const span of spans) {
        const context = span.spanContext();
        write({
          type: 'span',
          name: span.name,
          kind: span.kind,
          traceId: context.traceId,
          spanId: context.spanId,
          parentSpanId: span.parentSpanContext?.spanId ?? null,
          start: nanos(span.startTime),
          end: nanos(span.endTime),
          status: span.status.code,
          attributes: span.attributes,
          scope: span.instrumentationScope.name,
        });
      }
      done(SUCCESS);
    },
    shutdown: async () => {},
  };
}

function metricExporter(write: (record: Record<string, unknown>) => void): PushMetricExporter {
  return {
    export: (batch: ResourceMetrics, done: Done) => {
      for (const scope of batch.scopeMetrics) {
        for (const metric of scope.metrics) {
          write({ type: 'metric', name: metric.descriptor.name, unit: metric.descriptor.unit, points: metric.dataPoints.map((point) => ({ attributes: point.attributes, value: point.value })) });
        }
      }
      done(SUCCESS);
    },
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

function logExporter(write: (record: Record<string, unknown>) => void): LogRecordExporter {
  return {
    export: (records: ReadableLogRecord[], done: Done) => {
      for (const record of records) {
        write({ type: 'log', severity: record.severityText, body: record.body, attributes: record.attributes, traceId: record.spanContext?.traceId ?? null, spanId: record.spanContext?.spanId ?? null });
      }
      done(SUCCESS);
    },
    forceFlush: async () => {},
    shutdown: async () => {},
  };
}

export function startFileTelemetry(file: string, exportIntervalMillis = 5_000): TelemetryBackend {
  const write = writer(file);
  const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter(write))] });
  // Registers the async-hooks context manager too, so that a span stays current across awaits.
  tracerProvider.register();
  const meterProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: metricExporter(write), exportIntervalMillis })] });
  metrics.setGlobalMeterProvider(meterProvider);
  const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: logExporter(write) })] });
  logs.setGlobalLoggerProvider(loggerProvider);
  return openTelemetryBackend(async () => {
    await tracerProvider.forceFlush();
    await meterProvider.forceFlush();
    await loggerProvider.forceFlush();
  });
}
