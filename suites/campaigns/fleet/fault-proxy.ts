import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';

/** What a faulted download suffers: the body cut mid-way, a stall (the sender goes silent), or a reset. */
export type DownloadFault = 'cut' | 'stall' | 'reset';

export interface FaultProxyOptions {
  /** The update server the devices really download from. */
  upstream: { host: string; port: number };
  /**
   * Asked once per download (an answer with status 200) with the device's STA MAC and how many
   * downloads that device started before; undefined lets it through untouched.
   */
  faultFor(device: string, attempt: number): DownloadFault | undefined;
  /** Bytes of the body passed through before a cut or a stall. */
  cutAfterBytes?: number;
}

export interface FaultRecord {
  device: string;
  attempt: number;
  fault: DownloadFault;
}

export interface StartedFaultProxy {
  readonly url: string;
  readonly faults: readonly FaultRecord[];
  /** Downloads (status 200 answers) that went through, faulted or not. */
  readonly downloads: number;
  stop(): Promise<void>;
}

const MAC_HEADER = /\r\nx-esp(?:8266|32)-sta-mac: *([0-9A-Fa-f:]+)/i;

/**
 * A TCP proxy between devices and their update server that injects the network faults a fleet
 * meets (a link that drops mid-body, one that stalls, a reset), on the downloads `faultFor` picks.
 * Answers other than 200 (304, 404) and everything it does not fault pass through byte for byte.
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<StartedFaultProxy> {
  const cutAfter = options.cutAfterBytes ?? 8 * 1024;
  const attempts = new Map<string, number>();
  const faults: FaultRecord[] = [];
  const sockets = new Set<Socket>();
  let downloads = 0;
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    let device = 'unknown';
    let decided = false;
    let fault: DownloadFault | undefined;
    let forwarded = 0;
    const upstream = connect(options.upstream);
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (fault !== 'stall') client.end();
    });
    upstream.on('error', () => client.destroy());
    client.on('data', (chunk: Buffer) => {
      if (device === 'unknown')
        device = MAC_HEADER.exec(chunk.toString('latin1'))?.[1]?.toUpperCase() ?? device;
      upstream.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('data', (chunk: Buffer) => {
      if (!decided) {
        decided = true;
        if (/^HTTP\/1\.[01] 200 /.test(chunk.toString('latin1', 0, 16))) {
          downloads++;
          const attempt = attempts.get(device) ?? 0;
          attempts.set(device, attempt + 1);
          fault = options.faultFor(device, attempt);
          if (fault !== undefined) faults.push({ device, attempt, fault });
          if (fault === 'reset') {
            client.resetAndDestroy();
            upstream.destroy();
            return;
          }
        }
      }
      if (fault === undefined) {
        client.write(chunk);
        return;
      }
      const room = cutAfter - forwarded;
      if (room > 0) client.write(chunk.subarray(0, room));
      forwarded += Math.min(room, chunk.length);
      if (forwarded < cutAfter) return;
      if (fault === 'cut') {
        client.end();
        upstream.destroy();
      } else {
        // A stall: nothing more arrives, the link stays up until the device gives up.
        upstream.pause();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    get downloads() {
      return downloads;
    },
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
