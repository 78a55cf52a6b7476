import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ControlPlaneError, ControlRequestError } from './errors.ts';
import type { ControlPlaneOptions, PowerControllable, StartedControlPlane } from './power-controllable.ts';
import { PowerSwitch } from './power-switch.ts';
import { allowedMethods, dispatch } from './routes.ts';

/**
 * Serves power control for one device over HTTP: the project's own `/power/*` API, and the
 * Tasmota `/cm` and Shelly Gen1/Gen2 relay APIs, so a rig's smart-plug power driver works the
 * same against an emulator as against the plug on the bench. Nothing is logged; a token never
 * appears in a response either.
 */
export async function startControlPlane(
  device: PowerControllable,
  options: ControlPlaneOptions = {},
): Promise<StartedControlPlane> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new ControlPlaneError(`port must be an integer from 0 to 65535, got ${port}`);
  }
  if (options.token !== undefined && options.token.length === 0) {
    throw new ControlPlaneError('token is empty; leave it out to run without authentication');
  }
  const power = new PowerSwitch(device);
  const tokenDigest = options.token === undefined ? undefined : digest(options.token);

  const server = createServer((request, response) => {
    handle(request, response, power, tokenDigest).catch((error: unknown) => {
      // Headers may be out already if the client went away mid-answer; nothing more to do then.
      if (!response.headersSent) reply(response, 500, { error: describe(error) });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new ControlPlaneError(`cannot listen on ${host}:${port}: ${error.code ?? error.message}`)),
    );
    server.listen(port, host, () => resolve());
  });

  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${urlHost}:${address.port}`,
    port: address.port,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function handle(
  request: IncomingMessage,
  response: ServerResponse,
  power: PowerSwitch,
  tokenDigest: Buffer | undefined,
): Promise<void> {
  // Control requests carry no body; drain whatever a client sends so keep-alive still works.
  request.resume();
  const target = request.url ?? '/';
  // A request target the URL parser refuses (`//`, `//a:b@`) is the client's mistake: 400, not 500.
  if (!URL.canParse(target, 'http://control-plane')) {
    reply(response, 400, {
      error: 'malformed request target: send an origin-form path such as /power',
    });
    return;
  }
  const url = new URL(target, 'http://control-plane');
  const method = request.method ?? 'GET';
  if (tokenDigest !== undefined && !authorized(request, url, tokenDigest)) {
    response.setHeader('WWW-Authenticate', 'Basic realm="ota-conformance control plane"');
    const body =
      url.pathname === '/cm'
        ? { WARNING: 'Need user=<username>&password=<password>' }
        : { error: 'missing or wrong token: send Authorization: Bearer <token>' };
    reply(response, 401, body);
    return;
  }
  try {
    const result = await dispatch({ method, path: url.pathname, query: url.searchParams }, power);
    reply(response, result.status, result.body);
  } catch (error) {
    if (error instanceof ControlRequestError) {
      if (error.status === 405) response.setHeader('Allow', (allowedMethods(url.pathname) ?? []).join(', '));
      reply(response, error.status, {
        error: error.message,
        ...(error.parameter === undefined ? {} : { parameter: error.parameter }),
      });
      return;
    }
    reply(response, 500, { error: `the device failed: ${describe(error)}` });
  }
}

function authorized(request: IncomingMessage, url: URL, tokenDigest: Buffer): boolean {
  const header = request.headers.authorization ?? '';
  const candidates: string[] = [];
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer?.[1] !== undefined) candidates.push(bearer[1]);
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic?.[1] !== undefined) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon !== -1) candidates.push(decoded.slice(colon + 1));
  }
  // Tasmota puts the web password in the query: /cm?user=admin&password=…&cmnd=…
  const password = url.searchParams.get('password');
  if (url.pathname === '/cm' && password !== null) candidates.push(password);
  return candidates.some((candidate) => timingSafeEqual(digest(candidate), tokenDigest));
}

/** Comparing digests keeps the comparison constant-time whatever the candidate's length. */
function digest(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
  });
  response.end(text);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
