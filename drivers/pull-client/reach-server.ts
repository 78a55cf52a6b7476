import net from 'node:net';
import tls from 'node:tls';
import { PullClientError } from './pull-client.ts';

/**
 * A server under test's preflight: can a device open a connection to it at all (TCP, and for
 * https a completed TLS handshake at the rig's floor)? It proves reachability only; what the
 * server answers, and whether its certificate is the one the device pins, are requirements.
 */
export function reachServer(
  url: string,
  options: { timeoutMs?: number; minVersion?: tls.SecureVersion } = {},
): Promise<void> {
  const target = new URL(url);
  const secure = target.protocol === 'https:';
  const port = Number(target.port || (secure ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const timeoutMs = options.timeoutMs ?? 5_000;
  const legacy = options.minVersion === 'TLSv1' || options.minVersion === 'TLSv1.1';
  return new Promise((resolve, reject) => {
    const socket = secure
      ? tls.connect({
          host,
          port,
          rejectUnauthorized: false,
          ...(net.isIP(host) ? {} : { servername: host }),
          ...(options.minVersion ? { minVersion: options.minVersion } : {}),
          ...(legacy ? { ciphers: 'DEFAULT@SECLEVEL=0' } : {}),
        })
      : net.connect({ host, port });
    const timer = setTimeout(
      () => done(new Error(`no ${secure ? 'TLS handshake' : 'connection'} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const done = (error?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (!error) return resolve();
      reject(
        new PullClientError(
          'PULL_CLIENT_CONNECT',
          `cannot reach the update server at ${url}: ${error.message}`,
          {
            cause: error,
          },
        ),
      );
    };
    socket.once(secure ? 'secureConnect' : 'connect', () => done());
    socket.once('error', (error) => done(error));
  });
}
