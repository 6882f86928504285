import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/**
 * The emulators serve HTTPS because the Azure SDK clients refuse to send bearer tokens or keys over
 * plain http, and the service's code must never be told to allow that. A private CA per emulator
 * signs a certificate for 127.0.0.1 and localhost; clients trust the CA (`tlsOptions: { ca }` in the
 * SDK's client options, or NODE_EXTRA_CA_CERTS).
 */
export interface TlsPems {
  caPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
}

export interface TlsMaterial {
  /** PEM of the CA that signed the server certificate: what clients trust. */
  caPem: string;
  /** The file holding caPem. */
  caFile: string;
  serverCertPem: string;
  serverKeyPem: string;
  /** The files holding serverCertPem and serverKeyPem, when kept on disk (servers that read their certificate from a path). */
  serverCertFile?: string;
  serverKeyFile?: string;
}

const FILES = { ca: 'ca.pem', caKey: 'ca-key.pem', cert: 'server-cert.pem', key: 'server-key.pem' } as const;
const RENEW_WHEN_VALID_FOR_LESS_THAN_MS = 24 * 60 * 60 * 1000;

function yearsFromNow(years: number): Date {
  const date = new Date();
  date.setFullYear(date.getFullYear() + years);
  return date;
}

async function createCa(caName: string): Promise<{ cert: string; key: string }> {
  const ca = await generate([{ name: 'commonName', value: `hsm-access-governor local ${caName} CA` }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: yearsFromNow(5),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { cert: ca.cert, key: ca.private };
}

async function createServerCertificate(ca: { cert: string; key: string }): Promise<{ cert: string; key: string }> {
  const server = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: yearsFromNow(1),
    ca,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { cert: server.cert, key: server.private };
}

function stillValid(certPem: string): boolean {
  try {
    const validTo = Date.parse(new X509Certificate(certPem).validTo);
    return validTo - Date.now() > RENEW_WHEN_VALID_FOR_LESS_THAN_MS;
  } catch {
    return false;
  }
}

function readIfPresent(directory: string, name: string): string | undefined {
  const file = join(directory, name);
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

/** The CA and server certificate, in memory only. */
export async function generateTlsPems(caName: string): Promise<TlsPems> {
  const ca = await createCa(caName);
  const server = await createServerCertificate(ca);
  return { caPem: ca.cert, caKeyPem: ca.key, serverCertPem: server.cert, serverKeyPem: server.key };
}

/**
 * Loads the CA and server certificate kept in `directory`, creating (or renewing) what is missing or
 * about to expire, so a client that trusted the CA file keeps working across restarts.
 */
export async function loadOrCreateTlsMaterial(directory: string, caName: string): Promise<TlsMaterial> {
  mkdirSync(directory, { recursive: true });
  let caCert = readIfPresent(directory, FILES.ca);
  let caKey = readIfPresent(directory, FILES.caKey);
  if (!caCert || !caKey || !stillValid(caCert)) {
    ({ cert: caCert, key: caKey } = await createCa(caName));
    writeFileSync(join(directory, FILES.caKey), caKey, { mode: 0o600 });
    writeFileSync(join(directory, FILES.ca), caCert);
  }
  let serverCert = readIfPresent(directory, FILES.cert);
  let serverKey = readIfPresent(directory, FILES.key);
  if (!serverCert || !serverKey || !stillValid(serverCert) || !signedBy(serverCert, caCert)) {
    ({ cert: serverCert, key: serverKey } = await createServerCertificate({ cert: caCert, key: caKey }));
    writeFileSync(join(directory, FILES.key), serverKey, { mode: 0o600 });
    writeFileSync(join(directory, FILES.cert), serverCert);
  }
  return {
    caPem: caCert, caFile: join(directory, FILES.ca), serverCertPem: serverCert, serverKeyPem: serverKey,
    serverCertFile: join(directory, FILES.cert), serverKeyFile: join(directory, FILES.key),
  };
}

function signedBy(certPem: string, caPem: string): boolean {
  try {
    const cert = new X509Certificate(certPem);
    const ca = new X509Certificate(caPem);
    return cert.checkIssued(ca) && cert.verify(ca.publicKey);
  } catch {
    return false;
  }
}
