import { exactHeaderLine, luaRtosRequest, sendPullRequest } from '../../drivers/pull-client/index.ts';
import { published, serverRequirement, serverUrl } from './server-kit.ts';

const requirement = serverRequirement('luartos');
const SOURCE = 'docs/protocols/viperhttp-luartos-mqtt.md §2.5 (server side), seeds/luartos-ota.md';
const STALE = 'ffffffffffffffffffffffffffffffffffffffff';
const LUA_TLS = { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' } as const;

function ask(url: string, query: { firmware?: string; commit?: string }) {
  const { hostname, port, protocol } = new URL(url);
  const request = luaRtosRequest({
    server: hostname,
    port: Number(port || (protocol === 'https:' ? 443 : 80)),
    ...query,
  });
  return sendPullRequest(url, request, { tls: LUA_TLS });
}

requirement(
  'update-server/luartos/1',
  'MUST',
  'answers 471 when the commit is the newest build of that firmware, and 200 when it is not',
  { source: `${SOURCE} — 471 = no new firmware` },
  async ({ target, step, check }) => {
    const url = serverUrl(target);
    const firmware = published(target, 'firmware');
    const latest = await step('ask with the newest commit', () =>
      ask(url, { firmware, commit: published(target, 'latestCommit') }),
    );
    check(latest.status === 471, '471', latest.statusLine);
    const older = await step('ask with an older commit', () =>
      ask(url, { firmware, commit: published(target, 'olderCommit', STALE) }),
    );
    check(older.status === 200, '200', older.statusLine);
  },
);

requirement(
  'update-server/luartos/2',
  'MUST',
  'a 200 carries exactly "Content-Type: application/octet-stream" and "Content-Length: N" (canonical case, one space) and N body bytes',
  {
    source:
      'docs/protocols/viperhttp-luartos-mqtt.md §2.3 (strcmp on header names, value after one skipped character)',
  },
  async ({ target, step, check }) => {
    const url = serverUrl(target);
    const answer = await step('ask with an older commit', () =>
      ask(url, { firmware: published(target, 'firmware'), commit: published(target, 'olderCommit', STALE) }),
    );
    check(answer.status === 200, '200', answer.statusLine);
    const type = exactHeaderLine(answer, 'Content-Type');
    check(
      answer.headerLines.some((line) => /^Content-Type: application\/octet-stream(;.*)?$/.test(line)),
      'Content-Type: application/octet-stream',
      type ?? answer.headerLines.join(' | '),
    );
    const length = answer.headerLines.find((line) => line.startsWith('Content-Length: '));
    check(
      length !== undefined && Number(length.slice(16)) === answer.body.length && answer.body.length > 0,
      `Content-Length: ${answer.body.length}`,
      length ?? answer.headerLines.join(' | '),
    );
    check(answer.body[0] === 0xe9, 'an ESP32 app image (0xE9)', `first byte ${answer.body[0]}`);
  },
);

requirement(
  'update-server/luartos/3',
  'MUST',
  'answers 470 when firmware or commit is missing or the firmware is unknown',
  { source: `${SOURCE} — 470 = missing or bad arguments` },
  async ({ target, step, check }) => {
    const url = serverUrl(target);
    const firmware = published(target, 'firmware');
    const commit = published(target, 'olderCommit', STALE);
    for (const [what, query] of [
      ['no commit', { firmware }],
      ['no firmware', { commit }],
      ['an unknown firmware', { firmware: 'NO-SUCH-BOARD-OTA', commit }],
    ] as const) {
      const answer = await step(`ask with ${what}`, () => ask(url, query));
      check(answer.status === 470, `470 for ${what}`, answer.statusLine);
    }
    const good = await step('ask with both', () => ask(url, { firmware, commit }));
    check(good.status === 200, '200 with both arguments', good.statusLine);
  },
);

requirement(
  'update-server/luartos/4',
  'MUST',
  'accepts a TLS 1.1 client that sends no SNI and verifies nothing',
  {
    source: 'docs/protocols/viperhttp-luartos-mqtt.md §2.2 step 4 (TLSv1_1_client_method, no SNI)',
    needs: ['tls'],
  },
  async ({ target, step, check }) => {
    const answer = await step('TLS 1.1 without SNI', () =>
      ask(serverUrl(target), {
        firmware: published(target, 'firmware'),
        commit: published(target, 'latestCommit'),
      }),
    );
    check(answer.tlsProtocol === 'TLSv1.1', 'TLSv1.1 negotiated', `${answer.tlsProtocol}`);
  },
);
