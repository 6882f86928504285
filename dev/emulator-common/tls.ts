import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateTlsPems, loadOrCreateTlsMaterial, type TlsMaterial } from '../tls/certificate';

/**
 * An emulator's server certificate and private CA: kept in `<dataDir>/tls` across restarts, or made
 * for this run in a temporary folder (removed by the caller) when there is no data folder.
 */
export async function emulatorTlsMaterial(dataDir: string | undefined, authorityName: string, temporaryPrefix: string): Promise<{ material: TlsMaterial; temporaryDir?: string }> {
  if (dataDir) return { material: await loadOrCreateTlsMaterial(join(dataDir, 'tls'), authorityName) };
  const pems = await generateTlsPems(authorityName);
  const temporaryDir = mkdtempSync(join(tmpdir(), temporaryPrefix));
  const caFile = join(temporaryDir, 'ca.pem');
  writeFileSync(caFile, pems.caPem);
  return { material: { caPem: pems.caPem, caFile, serverCertPem: pems.serverCertPem, serverKeyPem: pems.serverKeyPem }, temporaryDir };
}
