import { parseChallenges } from '../../drivers/http/index.ts';
import { requirement } from '../framework/index.ts';
import {
  credentialsOf,
  describeResult,
  freshVersion,
  getPage,
  headerOf,
  imageFor,
  installImage,
  type PageAnswer,
  REALM,
  refusedUpload,
  restartAndReadVersion,
  usingSession,
} from './web-update-device.ts';

const SOURCE =
  'docs/protocols/arduino-ota.md §2.1 Auth (ESP8266HTTPUpdateServer-impl.h; ESP8266WebServer-impl.h authenticate()/requestAuthentication()), §2.2';
const NEEDS = ['console', 'reset'] as const;

const describePage = (page: PageAnswer) =>
  `HTTP ${page.status}, WWW-Authenticate: ${headerOf(page.headers, 'www-authenticate') ?? '(none)'}`;

/** A 401 whose challenge is Basic or Digest in the library's realm. */
function isChallenge(page: PageAnswer): boolean {
  if (page.status !== 401) return false;
  const challenges = parseChallenges(headerOf(page.headers, 'www-authenticate'));
  return challenges.some(
    (challenge) =>
      (challenge.scheme === 'basic' || challenge.scheme === 'digest') && challenge.params.realm === REALM,
  );
}

const CHALLENGE = `401 with WWW-Authenticate: Basic (or Digest) realm="${REALM}"`;

requirement(
  'web-update/auth/1',
  'MUST',
  'with a username and password set, GET /update without credentials is a 401 challenge; with the right credentials it serves the form',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    credentialsOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const anonymous = await step('GET /update without credentials', () =>
      usingSession(target, { credentials: 'none' }, (session) => getPage(session)),
    );
    check(isChallenge(anonymous), CHALLENGE, describePage(anonymous));
    // Positive control: the challenge guards the page, it does not replace it.
    const page = await step('GET /update with the right credentials', () =>
      usingSession(target, {}, (session) => getPage(session)),
    );
    check(
      page.status === 200 && page.body.includes('firmware'),
      'HTTP 200 and the upload form',
      `${describePage(page)} ${JSON.stringify(page.body.slice(0, 120))}`,
    );
  },
);

requirement(
  'web-update/auth/2',
  'MUST',
  'an upload without credentials is answered 401 with the challenge and flashes nothing (the old image boots after a restart); the same image with the right credentials installs',
  {
    source: `${SOURCE}: credentials checked at UPLOAD_FILE_START, body consumed, final handler sends 401`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    credentialsOf(target);
    const before = await restartAndReadVersion(target, step, 'known state');
    const version = freshVersion('auth2', target);
    const image = imageFor(target, version);
    const { result, bootedAfterSuccess } = await step(`upload version ${version} without credentials`, () =>
      usingSession(target, { credentials: 'none' }, (session) => refusedUpload(target, session, image)),
    );
    const answer: PageAnswer =
      result.outcome === 'answered' ? result : { status: 0, headers: {}, body: result.detail };
    check(
      isChallenge(answer),
      CHALLENGE,
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    const after = await restartAndReadVersion(target, step, 'after the refused upload');
    check(after === before, `the old image (${before}) after a restart`, after);
    const installed = await installImage(
      target,
      step,
      image,
      `version ${version} with the right credentials`,
    );
    check(
      installed.boot?.version === version,
      `the success page, then a reboot into ${version}`,
      `${describeResult(installed.result)}; ${installed.boot?.version ?? installed.bootError ?? 'no reboot'}`,
    );
  },
);

requirement(
  'web-update/auth/3',
  'MUST',
  'refuses a wrong password with 401 on the page and on an upload, flashing nothing; the right password gets the page',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const { username, password } = credentialsOf(target);
    const wrong = { username, password: `${password}-wrong` };
    const before = await restartAndReadVersion(target, step, 'known state');
    const page = await step('GET /update with a wrong password (Basic)', () =>
      usingSession(target, { credentials: wrong, auth: 'basic' }, (session) => getPage(session)),
    );
    check(isChallenge(page), CHALLENGE, describePage(page));
    const version = freshVersion('auth3', target);
    const { result, bootedAfterSuccess } = await step(
      `upload version ${version} with a wrong password (Basic)`,
      () =>
        usingSession(target, { credentials: wrong, auth: 'basic' }, (session) =>
          refusedUpload(target, session, imageFor(target, version)),
        ),
    );
    check(
      result.outcome === 'answered' && result.status === 401,
      'HTTP 401',
      `${describeResult(result)}${bootedAfterSuccess ? `; then it booted ${bootedAfterSuccess}` : ''}`,
    );
    const after = await restartAndReadVersion(target, step, 'after the refused upload');
    check(after === before, `the old image (${before}) after a restart`, after);
    const right = await step('GET /update with the right password (Basic)', () =>
      usingSession(target, { auth: 'basic' }, (session) => getPage(session)),
    );
    check(right.status === 200, 'HTTP 200 with the right password', describePage(right));
  },
);

requirement(
  'web-update/auth/4',
  'MUST',
  'when it challenges with Digest: a response to its current nonce with the right password gets the page, one with a wrong password a fresh 401',
  {
    source: `${SOURCE}: authenticate() accepts Digest against the nonce/opaque of its last Digest challenge`,
    needs: [...NEEDS],
  },
  async ({ target, step, check }) => {
    const { username, password } = credentialsOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const anonymous = await step('GET /update without credentials', () =>
      usingSession(target, { credentials: 'none' }, (session) => getPage(session)),
    );
    check(isChallenge(anonymous), CHALLENGE, describePage(anonymous));
    const digestOffered = parseChallenges(headerOf(anonymous.headers, 'www-authenticate')).some(
      (challenge) => challenge.scheme === 'digest',
    );
    if (!digestOffered) {
      // The library's own requestAuthentication() challenges with Basic (§2.1); Digest then has no nonce to answer.
      await step('the device challenges with Basic only: no Digest exchange to judge', () => undefined);
      return;
    }
    const refused = await step('answer the Digest challenge with a wrong password', () =>
      usingSession(
        target,
        { credentials: { username, password: `${password}-wrong` }, auth: 'digest' },
        (session) => getPage(session),
      ),
    );
    check(isChallenge(refused), `${CHALLENGE} for the wrong password`, describePage(refused));
    const accepted = await step('answer a fresh Digest challenge with the right password', () =>
      usingSession(target, { auth: 'digest' }, (session) => getPage(session)),
    );
    check(accepted.status === 200, 'HTTP 200 for the right Digest response', describePage(accepted));
  },
);
