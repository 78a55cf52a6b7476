import type { ViperHttpClient } from '../../drivers/http/index.ts';
import { requirement } from '../framework/index.ts';
import { describeAnswer, SEED, usingDocClient } from './doc-device.ts';

const SOURCE = `${SEED} § Enabling OTA ("all OTA requests must include this token"), § Error Handling (401)`;

/** The seed's routes, each with the body it describes (valid if the request were authorised). */
const ROUTES = [
  ['POST', 'begin', { size: 4096 }],
  ['POST', 'write', new Uint8Array(16)],
  ['POST', 'finalize', { sha256: '0'.repeat(64) }],
  ['GET', 'status', undefined],
] as const;

async function everyRoute(client: ViperHttpClient, headers: Record<string, string>) {
  const answers: Array<{ route: string; status: number; text: string }> = [];
  for (const [method, route, body] of ROUTES) {
    const answer = await client.request(method, route, {
      auth: false,
      headers: {
        ...(body instanceof Uint8Array ? { 'content-type': 'application/octet-stream' } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body }),
      step: `${method} /ota/${route}`,
    });
    answers.push({ route: `${method} /ota/${route}`, status: answer.status, text: describeAnswer(answer) });
  }
  return answers;
}

requirement(
  'viperhttp-doc/auth/1',
  'MUST',
  'refuses every OTA request without a token with 401 Unauthorized',
  { source: SOURCE },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      const answers = await step('every route without Authorization', () => everyRoute(client, {}));
      for (const answer of answers)
        check(answer.status === 401, `401 on ${answer.route} without a token`, answer.text);
      const accepted = await step('GET /ota/status with Authorization: Bearer <token>', () =>
        client.request('GET', 'status', { step: 'status with the token' }),
      );
      check(
        accepted.status === 200,
        '200 for the same request with the Bearer token',
        describeAnswer(accepted),
      );
    });
  },
);

requirement(
  'viperhttp-doc/auth/2',
  'MUST',
  'refuses every OTA request with a wrong Bearer token with 401 Unauthorized',
  { source: `${SOURCE}; § Phase 1 (Authorization: Bearer <ota_token>)` },
  async ({ target, step, check }) => {
    await usingDocClient(target, async (client) => {
      const wrong = `Bearer ${target.description.token ?? ''}-wrong`;
      const answers = await step('every route with a wrong Bearer token', () =>
        everyRoute(client, { authorization: wrong }),
      );
      for (const answer of answers)
        check(answer.status === 401, `401 on ${answer.route} with a wrong token`, answer.text);
      const accepted = await step('GET /ota/status with the right Bearer token', () =>
        client.request('GET', 'status', { step: 'status with the token' }),
      );
      check(accepted.status === 200, '200 for the right Bearer token', describeAnswer(accepted));
    });
  },
);
