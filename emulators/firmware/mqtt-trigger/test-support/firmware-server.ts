import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ServedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A redirect the server answers with: its status and the Location, sent as given. */
export interface Redirect {
  status: 301 | 302 | 303 | 307 | 308;
  location: string;
}

/** The minimal update server a test runs: paths to bytes, to a bare status code or to a redirect. */
export class FirmwareServer {
  readonly requests: ServedRequest[] = [];
  private readonly files = new Map<string, Uint8Array | number | Redirect>();
  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<FirmwareServer> {
    let instance: FirmwareServer | undefined;
    const server = createServer((request, response) => {
      instance!.requests.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
      });
      const entry = instance!.files.get(request.url ?? '');
      if (entry === undefined) {
        response.writeHead(404).end();
      } else if (typeof entry === 'number') {
        response.writeHead(entry).end();
      } else if (!(entry instanceof Uint8Array)) {
        response.writeHead(entry.status, { Location: entry.location }).end();
      } else {
        response.writeHead(200, {
          'Content-Type': 'application/octet-stream',
          'Content-Length': entry.length,
        });
        response.end(entry);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    instance = new FirmwareServer(server, `http://127.0.0.1:${address.port}`);
    return instance;
  }

  serve(path: string, body: Uint8Array | number | Redirect): string {
    this.files.set(path, body);
    return `${this.baseUrl}${path}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
