import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HostSecrets {
  /** Accepted for `function` and `admin` auth levels, the admin API and the Event Grid webhook. */
  hostKey: string;
  /** Signs dev sign-in session cookies. */
  sessionSecret: string;
  /** The `blobs_extension` system key: the blob trigger's Event Grid webhook takes it (or the host key). */
  blobsExtensionKey: string;
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/** A file written before the blobs extension key existed lacks it: it is added, the other keys kept. */
function isSecrets(value: unknown): value is Omit<HostSecrets, 'blobsExtensionKey'> & { blobsExtensionKey?: string } {
  const candidate = value as Partial<HostSecrets> | null;
  const blobsKey = candidate?.blobsExtensionKey;
  return typeof candidate?.hostKey === 'string' && candidate.hostKey.length >= 16 && typeof candidate.sessionSecret === 'string' && candidate.sessionSecret.length >= 16
    && (blobsKey === undefined || (typeof blobsKey === 'string' && blobsKey.length >= 16));
}

/** Kept in `<dataDir>/host-keys.json` so that keys and sign-in sessions survive a restart. */
export function loadOrCreateSecrets(dataDir: string | undefined, overrides: Partial<HostSecrets> = {}): HostSecrets {
  const file = dataDir ? join(dataDir, 'host-keys.json') : undefined;
  let secrets: (Omit<HostSecrets, 'blobsExtensionKey'> & { blobsExtensionKey?: string }) | undefined;
  if (file && existsSync(file)) {
    let stored: unknown;
    try {
      stored = JSON.parse(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new Error(`${file} is not valid JSON (${(error as Error).message}); delete it to get new keys`);
    }
    if (!isSecrets(stored)) throw new Error(`${file} must hold hostKey and sessionSecret (16+ characters each; blobsExtensionKey too when present); delete it to get new keys`);
    secrets = stored;
  }
  const result: HostSecrets = {
    hostKey: overrides.hostKey ?? secrets?.hostKey ?? newSecret(),
    sessionSecret: overrides.sessionSecret ?? secrets?.sessionSecret ?? newSecret(),
    blobsExtensionKey: overrides.blobsExtensionKey ?? secrets?.blobsExtensionKey ?? newSecret(),
  };
  if (file && dataDir && (result.hostKey !== secrets?.hostKey || result.sessionSecret !== secrets?.sessionSecret || result.blobsExtensionKey !== secrets?.blobsExtensionKey)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`, { mode: 0o600 });
  }
  return result;
}

export function keyMatches(candidate: string | undefined | null, expected: string): boolean {
  if (!candidate) return false;
  const a = Buffer.from(candidate);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
