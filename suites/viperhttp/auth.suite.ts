import type { ViperHttpClient } from '../../drivers/http/index.ts';
import { requirement } from '../framework/index.ts';
import { detailOf, usingClient } from './viper-device.ts';

const SOURCE = 'docs/protocols/viperhttp-luartos-mqtt.md §1.3 (viperhttp_ota.py 610–625)';

/** Every OTA route of the real code (§1.2), with a body that would be valid if authorised. */
const ROUTES = [
  ['GET', '/ota/status'],
  ['POST', '/ota/begin'],
  ['POST', '/ota/chunk'],
  ['POST', '/ota/finalize'],
  ['POST', '/ota/abort'],
  ['POST', '/ota/upload'],
  ['POST', '/ota/mark-valid'],
] as const;

/** One request with exactly the credential given (none of the client's own), in the wire transcript. */
async function call(
  client: ViperHttpClient,
  method: 'GET' | 'POST',
  path: string,
  headers: Record<string, string> = {},
) {
  const answer = await client.request(method, path, {
    auth: false,
    headers,
    ...(method === 'POST' ? { body: {} } : {}),
  });
  return { status: answer.status, text: answer.body.toString('utf8'), detail: detailOf(answer) };
}

requirement(
  'viperhttp/auth/1',
  'MUST',
  'answers 401 {"detail":"invalid ota token"} on every OTA route when no token is sent',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      for (const [method, path] of ROUTES) {
        const answer = await step(`${method} ${path} without a token`, () => call(client, method, path));
        check(
          answer.status === 401 && answer.detail === 'invalid ota token',
          `401 {"detail":"invalid ota token"} on ${method} ${path}`,
          `${answer.status} ${answer.text}`,
        );
      }
      // Positive control: the same device accepts the right token, so it is not refusing everything.
      const status = await step('GET /ota/status with the token', () =>
        call(client, 'GET', '/ota/status', { 'X-OTA-Token': target.description.token ?? '' }),
      );
      check(status.status === 200, '200 on GET /ota/status with the right token', `${status.status}`);
    });
  },
);

requirement(
  'viperhttp/auth/2',
  'MUST',
  'answers 401 on every OTA route when the token is wrong',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      for (const [method, path] of ROUTES) {
        const answer = await step(`${method} ${path} with a wrong token`, () =>
          call(client, method, path, { 'X-OTA-Token': `${target.description.token ?? ''}-wrong` }),
        );
        check(answer.status === 401, `401 on ${method} ${path}`, `${answer.status} ${answer.text}`);
      }
      const status = await step('GET /ota/status with the token', () =>
        call(client, 'GET', '/ota/status', { 'X-OTA-Token': target.description.token ?? '' }),
      );
      check(status.status === 200, '200 on GET /ota/status with the right token', `${status.status}`);
    });
  },
);

requirement(
  'viperhttp/auth/3',
  'MUST',
  'accepts the token in the `token` query parameter',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const token = encodeURIComponent(target.description.token ?? '');
      const answer = await step('GET /ota/status?token=…', () =>
        call(client, 'GET', `/ota/status?token=${token}`),
      );
      check(answer.status === 200, '200 with ?token=<token>', `${answer.status} ${answer.text}`);
      const abort = await step('POST /ota/abort?token=…', () =>
        call(client, 'POST', `/ota/abort?token=${token}`),
      );
      check(
        abort.status === 200,
        '200 for a POST route with ?token=<token>',
        `${abort.status} ${abort.text}`,
      );
      const wrong = await step('GET /ota/status?token=<wrong>', () =>
        call(client, 'GET', `/ota/status?token=${token}x`),
      );
      check(wrong.status === 401, '401 with a wrong ?token=', `${wrong.status}`);
    });
  },
);

requirement(
  'viperhttp/auth/4',
  'MUST',
  'refuses `Authorization: Bearer <token>` with 401 (the header is X-OTA-Token, no Bearer prefix)',
  { source: `${SOURCE}; §0 finding 1` },
  async ({ target, step, check }) => {
    await usingClient(target, async (client) => {
      const token = target.description.token ?? '';
      const bearer = await step('GET /ota/status with Authorization: Bearer', () =>
        call(client, 'GET', '/ota/status', { authorization: `Bearer ${token}` }),
      );
      check(bearer.status === 401, '401 for a Bearer token', `${bearer.status} ${bearer.text}`);
      const header = await step('GET /ota/status with X-OTA-Token (any case of the name)', () =>
        call(client, 'GET', '/ota/status', { 'x-ota-token': token }),
      );
      check(header.status === 200, '200 for the same token in X-OTA-Token', `${header.status}`);
    });
  },
);
