import { formatIsoDuration } from '../shared/domain/duration';
import { CliError, EXIT } from './exitCodes';

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** `1h`, `90m`, `1h30m`, `2d` or ISO 8601 (`PT1H`) to the ISO 8601 text the API takes. */
export function isoDuration(text: string): string {
  const trimmed = text.trim();
  if (/^P/i.test(trimmed)) return trimmed.toUpperCase();
  const parts = [...trimmed.matchAll(/(\d+)\s*([dhms])/gi)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('').replace(/\s/g, '') !== trimmed.replace(/\s/g, '')) {
    throw new CliError(`'${text}' is not a duration: write e.g. 30m, 1h, 1h30m, 2d or PT1H`, EXIT.usage);
  }
  return formatIsoDuration(parts.reduce((ms, p) => ms + Number(p[1]) * UNIT_MS[p[2].toLowerCase()], 0));
}

/** A span in words: `1h 5m`, `42s`. */
export function spanInWords(ms: number): string {
  if (ms <= 0) return '0s';
  const seconds = Math.round(ms / 1000);
  const [d, h, m, s] = [Math.floor(seconds / 86400), Math.floor((seconds % 86400) / 3600), Math.floor((seconds % 3600) / 60), seconds % 60];
  const words = [d ? `${d}d` : '', h ? `${h}h` : '', m ? `${m}m` : '', !d && !h && s ? `${s}s` : ''].filter(Boolean);
  return words.join(' ') || '0s';
}

/** Text for a terminal cell: control characters (an escape sequence in a justification, say) are shown, never obeyed. */
export function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  const text = Array.isArray(value) ? value.join(', ') : typeof value === 'object' ? JSON.stringify(value) : String(value);
  // eslint-disable-next-line no-control-regex -- control characters are what must not reach the terminal
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A plain text table: a header row, then rows, columns padded to their widest cell. */
export function table(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  if (rows.length === 0) return '(none)\n';
  const cells = rows.map((row) => headers.map((_, i) => cell(row[i])));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i].length)));
  const line = (row: readonly string[]): string => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  return `${[line(headers), ...cells.map(line)].join('\n')}\n`;
}

/** `key: value` lines for one record. */
export function facts(pairs: readonly (readonly [string, unknown])[]): string {
  const shown = pairs.filter(([, v]) => v !== undefined && v !== null && v !== '');
  const width = Math.max(...shown.map(([k]) => k.length));
  return `${shown.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${cell(v)}`).join('\n')}\n`;
}
