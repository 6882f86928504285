import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTlsPems, loadOrCreateTlsMaterial, type TlsMaterial, type TlsPems } from '../tls/certificate';

/** Generating RSA keys takes a while: emulators that ask for it share one in-memory set per authority and process. */
const pemsKeptForProcess = new Map<string, Promise<TlsPems>>();

/**
 * An emulator's server certificate and private CA: kept in `<dataDir>/tls` across restarts, or made
 * for this run in a temporary folder (removed by the caller) when there is no data folder, then
 * generated afresh unless `reuseWithinProcess` asks for the set made earlier in this process.
 */
export async function emulatorTlsMaterial(
  dataDir: string | undefined,
  authorityName: string,
  temporaryPrefix: string,
  options: { reuseWithinProcess?: boolean } = {},
): Promise<{ material: TlsMaterial; temporaryDir?: string }> {
  if (dataDir) return { material: await loadOrCreateTlsMaterial(join(dataDir, 'tls'), authorityName) };
  let generating = options.reuseWithinProcess ? pemsKeptForProcess.get(authorityName) : undefined;
  if (!generating) {
    generating = generateTlsPems(authorityName);
    if (options.reuseWithinProcess) pemsKeptForProcess.set(authorityName, generating);
  }
  const pems = await generating;
  const temporaryDir = mkdtempSync(join(tmpdir(), temporaryPrefix));
  const caFile = join(temporaryDir, 'ca.pem');
  writeFileSync(caFile, pems.caPem);
  return { material: { caPem: pems.caPem, caFile, serverCertPem: pems.serverCertPem, serverKeyPem: pems.serverKeyPem }, temporaryDir };
}
