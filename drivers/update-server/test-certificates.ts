import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { UpdateServerError } from './errors.ts';

const run = promisify(execFile);

export interface TestCertificateOptions {
  /** The server certificate's subject CN; default `localhost`. */
  commonName?: string;
  /** DNS names and IP addresses for subjectAltName; default `localhost`, `127.0.0.1`, `::1`. */
  altNames?: readonly string[];
  /** RSA (default, what every ESP TLS stack accepts) or P-256 ECDSA. */
  keyType?: 'rsa' | 'ec';
  days?: number;
}

export interface TestCertificates {
  /** The throw-away CA a client must trust. */
  caPem: string;
  /** The server certificate, signed by the CA. */
  certPem: string;
  /** The server's private key (PKCS#8 PEM). */
  keyPem: string;
}

function keyArguments(keyType: 'rsa' | 'ec'): string[] {
  return keyType === 'rsa'
    ? ['-newkey', 'rsa:2048']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

function subjectAltName(names: readonly string[]): string {
  return names.map((name) => (net.isIP(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
}

/**
 * A fresh CA and a server certificate signed by it, made with the `openssl` CLI (node:crypto has
 * no X.509 writer). Nothing touches the repository: the files live in a temporary folder that is
 * removed before this returns, so no key is ever checked in.
 */
export async function createTestCertificates(
  options: TestCertificateOptions = {},
): Promise<TestCertificates> {
  const {
    commonName = 'localhost',
    altNames = ['localhost', '127.0.0.1', '::1'],
    keyType = 'rsa',
    days = 2,
  } = options;
  const folder = await mkdtemp(join(tmpdir(), 'ota-update-server-certs-'));
  const file = (name: string) => join(folder, name);
  const openssl = async (args: string[]) => {
    try {
      await run('openssl', args, { cwd: folder });
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new UpdateServerError(
        'TEST_CERTIFICATE_FAILED',
        `openssl ${args[0]} failed (is the openssl CLI installed and on PATH?): ${stderr.trim() || (error as Error).message}`,
      );
    }
  };
  try {
    // The CA's key and the server's key are made side by side (RSA key generation is most of the time).
    const ca = openssl([
      'req',
      '-x509',
      ...keyArguments(keyType),
      '-nodes',
      '-days',
      String(days),
      '-subj',
      '/CN=ota-conformance test CA',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
    ]);
    const request = openssl([
      'req',
      '-new',
      ...keyArguments(keyType),
      '-nodes',
      '-subj',
      `/CN=${commonName}`,
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    ]);
    await Promise.all([ca, request]);
    await writeFile(
      file('server.ext'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        'extendedKeyUsage=serverAuth',
        ...(altNames.length > 0 ? [`subjectAltName=${subjectAltName(altNames)}`] : []),
      ].join('\n'),
    );
    await openssl([
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      String(days),
      '-sha256',
      '-extfile',
      file('server.ext'),
      '-out',
      file('server.pem'),
    ]);
    const [caPem, certPem, keyPem] = await Promise.all(
      ['ca.pem', 'server.pem', 'server.key'].map((name) => readFile(file(name), 'utf8')),
    );
    return { caPem: caPem!, certPem: certPem!, keyPem: keyPem! };
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
