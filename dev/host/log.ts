export type HostLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical';

export interface HostLogEntry {
  level: HostLogLevel;
  message: string;
  /** The function that logged, when the line comes from an invocation. */
  functionName?: string;
  invocationId?: string;
}

export type HostLogger = (entry: HostLogEntry) => void;

const QUIET_LEVELS: ReadonlySet<HostLogLevel> = new Set(['trace', 'debug']);

/** Console output in the spirit of Core Tools: `[time] [Function name] message`. */
export function consoleLogger(entry: HostLogEntry): void {
  if (QUIET_LEVELS.has(entry.level)) return;
  const source = entry.functionName ? `[${entry.functionName}] ` : '';
  const line = `[${new Date().toISOString()}] ${source}${entry.message}`;
  if (entry.level === 'error' || entry.level === 'critical') console.error(line);
  else if (entry.level === 'warning') console.warn(line);
  else console.log(line);
}

export const silentLogger: HostLogger = () => undefined;

export function errorText(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
