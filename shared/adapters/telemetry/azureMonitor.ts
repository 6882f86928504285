import { ManagedIdentityCredential } from '@azure/identity';
import { useAzureMonitor } from '@azure/monitor-opentelemetry';
import { metrics, trace } from '@opentelemetry/api';
import type { TelemetryBackend } from './types';
import { openTelemetryBackend } from './otel';

/**
 * Azure: OpenTelemetry to Application Insights, signed in as the app's managed identity (the resource
 * has local authentication off; the identity holds Monitoring Metrics Publisher on it).
 */
export function startAzureMonitor(env: NodeJS.ProcessEnv): TelemetryBackend {
  const credential = env.AZURE_CLIENT_ID ? new ManagedIdentityCredential({ clientId: env.AZURE_CLIENT_ID }) : new ManagedIdentityCredential();
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString: env.APPLICATIONINSIGHTS_CONNECTION_STRING!, credential },
    // Every invocation is kept: the service handles few, and each is an access decision.
    samplingRatio: 1,
    tracesPerSecond: 0,
    // The Azure SDK's own spans are the dependencies; raw HTTP spans would count each call twice.
    instrumentationOptions: { azureSdk: { enabled: true }, http: { enabled: false } },
  });
  return openTelemetryBackend(async () => {
    await (trace.getTracerProvider() as { forceFlush?: () => Promise<void> }).forceFlush?.();
    await (metrics.getMeterProvider() as { forceFlush?: () => Promise<void> }).forceFlush?.();
  });
}

