import { createHash } from 'node:crypto';
import { challengeResponse, clientNonce, type DeviceReply } from '../../drivers/espota/index.ts';
import { requirement } from '../framework/index.ts';
import {
  declaredScheme,
  expectOkAndConnectBack,
  freshVersion,
  imageFor,
  inviteWithListener,
  passwordOf,
  restartAndReadVersion,
  uploaderFor,
} from './arduino-ota-device.ts';

const SOURCE =
  'docs/protocols/arduino-ota.md §1.3–1.4 (ESP8266 ArduinoOTA.cpp L195-239; ESP32 ArduinoOTA.cpp _onRx)';
const NEEDS = ['console', 'reset'] as const;

const NONCE = { md5: /^[0-9a-f]{32}$/, sha256: /^[0-9a-f]{64}$/ } as const;
const describeReply = (reply: DeviceReply) => JSON.stringify(reply.text);
const nonceOf = (reply: DeviceReply) => (reply.kind === 'auth' ? reply.nonce : '');

requirement(
  'arduino-ota/auth/1',
  'MUST',
  'with a password set, answers an invitation with `AUTH <nonce>` in the scheme it uses, and connects back only after the right answer',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const password = passwordOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const uploader = uploaderFor(target);
    const image = imageFor(target, freshVersion('auth1', target));
    const md5 = createHash('md5').update(image).digest('hex');
    const { reply, listener } = await step('send the invitation', () =>
      inviteWithListener(uploader, image, md5),
    );
    try {
      const scheme = declaredScheme(target);
      const hexDigits = scheme === 'md5' ? 32 : 64;
      check(
        reply.kind === 'auth' && NONCE[scheme].test(reply.nonce),
        `AUTH followed by ${hexDigits} lowercase hex digits (${scheme === 'md5' ? 'MD5' : 'PBKDF2-HMAC-SHA256'} challenge)`,
        describeReply(reply),
      );
      check(
        listener.connections === 0,
        'no connection before the challenge is answered',
        `${listener.connections}`,
      );
      // Positive control: the challenge is real — answering it opens the data phase.
      const answer = await step('answer the challenge correctly', () =>
        uploader.authenticate(nonceOf(reply), password, scheme),
      );
      await expectOkAndConnectBack({ step, check }, listener, answer, 'OK to the right answer');
    } finally {
      await listener.close();
      await uploader.close();
    }
  },
);

requirement(
  'arduino-ota/auth/2',
  'MUST',
  'refuses a wrong answer with `Authentication Failed` and does not connect back; the right answer to a fresh invitation gets `OK` and the connect-back',
  { source: SOURCE, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const password = passwordOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const uploader = uploaderFor(target);
    const image = imageFor(target, freshVersion('auth2', target));
    const md5 = createHash('md5').update(image).digest('hex');
    const scheme = declaredScheme(target);
    const wrong = await step('send the invitation', () => inviteWithListener(uploader, image, md5));
    const right = await (async () => {
      try {
        check(wrong.reply.kind === 'auth', 'AUTH <nonce>', describeReply(wrong.reply));
        const refused = await step('answer with a wrong password', () =>
          uploader.authenticate(nonceOf(wrong.reply), `${password}-wrong`, scheme),
        );
        check(
          refused.kind === 'auth-failed' && refused.text === 'Authentication Failed',
          '`Authentication Failed`',
          describeReply(refused),
        );
        // Positive control: the device went back to IDLE and takes a new, correct exchange.
        const fresh = await step('send a fresh invitation', () => inviteWithListener(uploader, image, md5));
        try {
          check(fresh.reply.kind === 'auth', 'AUTH <nonce>', describeReply(fresh.reply));
          const accepted = await step('answer correctly', () =>
            uploader.authenticate(nonceOf(fresh.reply), password, scheme),
          );
          await expectOkAndConnectBack({ step, check }, fresh.listener, accepted, 'OK to the right answer');
          return fresh.listener.connections;
        } finally {
          await fresh.listener.close();
        }
      } finally {
        await wrong.listener.close();
        await uploader.close();
      }
    })();
    check(right === 1, 'one connection, after the right answer', `${right}`);
    check(
      wrong.listener.connections === 0,
      'no connection to the port of the refused exchange',
      `${wrong.listener.connections} connection(s)`,
    );
  },
);

requirement(
  'arduino-ota/auth/3',
  'MUST',
  'issues a new nonce per invitation and refuses the right answer to an earlier nonce (a replay); the right answer to the current one is accepted',
  { source: `${SOURCE}; nonce = MD5(micros()) per invitation`, needs: [...NEEDS] },
  async ({ target, step, check }) => {
    const password = passwordOf(target);
    await restartAndReadVersion(target, step, 'known state');
    const uploader = uploaderFor(target);
    const image = imageFor(target, freshVersion('auth3', target));
    const md5 = createHash('md5').update(image).digest('hex');
    const scheme = declaredScheme(target);
    const cnonce = clientNonce(scheme, {
      fileName: 'firmware.bin',
      size: image.length,
      md5,
      remoteAddress: target.description.host ?? '',
    });
    const listeners = [];
    try {
      const first = await step('send an invitation', () => inviteWithListener(uploader, image, md5));
      listeners.push(first.listener);
      check(first.reply.kind === 'auth', 'AUTH <nonce>', describeReply(first.reply));
      const oldNonce = nonceOf(first.reply);
      const replayed = await challengeResponse(scheme, password, oldNonce, cnonce);
      // A wrong answer returns the device to IDLE without spending the right one.
      const refused = await step('answer with a wrong password', () =>
        uploader.authenticate(oldNonce, `${password}-wrong`, scheme, { cnonce }),
      );
      check(refused.kind === 'auth-failed', '`Authentication Failed`', describeReply(refused));
      const second = await step('send a second invitation', () => inviteWithListener(uploader, image, md5));
      listeners.push(second.listener);
      check(second.reply.kind === 'auth', 'AUTH <nonce>', describeReply(second.reply));
      check(nonceOf(second.reply) !== oldNonce, 'a nonce different from the first', nonceOf(second.reply));
      const replay = await step('replay the right answer to the first nonce', () =>
        uploader.authenticate(nonceOf(second.reply), password, scheme, { cnonce, response: replayed }),
      );
      check(
        replay.kind === 'auth-failed',
        '`Authentication Failed` for the replayed answer',
        describeReply(replay),
      );
      const third = await step('send a third invitation', () => inviteWithListener(uploader, image, md5));
      listeners.push(third.listener);
      const accepted = await step('answer the current nonce correctly', () =>
        uploader.authenticate(nonceOf(third.reply), password, scheme),
      );
      await expectOkAndConnectBack({ step, check }, third.listener, accepted, 'OK to the right answer');
      check(
        first.listener.connections + second.listener.connections === 0,
        'no connection for the refused exchanges',
        `${first.listener.connections + second.listener.connections}`,
      );
    } finally {
      for (const listener of listeners) await listener.close();
      await uploader.close();
    }
  },
);
