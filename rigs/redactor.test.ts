import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Redactor } from './index.ts';

const TOKEN = 'tok/en+s3cret&=value';
const redactor = new Redactor([TOKEN]);

describe('Redactor', () => {
  it('leaves text without secrets untouched (the acceptance twin of every case below)', () => {
    const text = 'POST /ota/chunk HTTP/1.1\r\nX-OTA-Token: another-token\r\n';
    expect(redactor.redact(text)).toBe(text);
    expect(new Redactor([]).redact(`${TOKEN}`)).toBe(TOKEN);
  });

  it('removes a token from plain text, every occurrence', () => {
    expect(redactor.redact(`X-OTA-Token: ${TOKEN}\r\nAuthorization: Bearer ${TOKEN}`)).toBe(
      'X-OTA-Token: ***\r\nAuthorization: Bearer ***',
    );
  });

  it('removes it from a URL query in every encoding', () => {
    const url = new URL('http://127.0.0.1:8080/ota/status');
    url.searchParams.set('token', TOKEN);
    expect(redactor.redact(url.href)).toBe('http://127.0.0.1:8080/ota/status?token=***');
    const lowerHex = `?token=${encodeURIComponent(TOKEN).toLowerCase()}`;
    expect(redactor.redact(lowerHex)).toBe('?token=***');
    expect(redactor.redact(`/update?token=${encodeURIComponent(TOKEN)}&x=1`)).toBe('/update?token=***&x=1');
  });

  it('removes a Basic-auth header whose password is a secret, with or without the user known', () => {
    const header = `Authorization: Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}`;
    expect(redactor.redact(header)).toBe('Authorization: Basic ***');
    const otherUser = `Authorization: Basic ${Buffer.from(`someone-else:${TOKEN}`).toString('base64')}`;
    expect(redactor.redact(otherUser)).toBe('Authorization: Basic ***');
    const unrelated = `Authorization: Basic ${Buffer.from('admin:other').toString('base64')}`;
    expect(redactor.redact(unrelated)).toBe(unrelated);
  });

  it('finds the secret inside any base64 text, at each of the three alignments', () => {
    for (const prefix of ['', 'a', 'ab']) {
      const encoded = Buffer.from(`${prefix}{"token":"${TOKEN}"}`).toString('base64');
      expect(redactor.redact(`body=${encoded};`)).toBe('body=***;');
    }
  });

  it('removes it from a JSON object, deeply, keys included, cycles kept', () => {
    const report: Record<string, unknown> = {
      request: { headers: { 'x-ota-token': TOKEN }, url: `/ota/begin?t=${encodeURIComponent(TOKEN)}` },
      lines: [`token=${TOKEN}`, 42, null],
      [TOKEN]: true,
      body: Buffer.from(`{"token":"${TOKEN}"}`),
      when: new Date(0),
    };
    report.self = report;
    const clean = redactor.redactObject(report) as Record<string, unknown>;
    expect(JSON.stringify({ ...clean, self: undefined, body: undefined })).not.toContain('s3cret');
    expect(clean.request).toEqual({ headers: { 'x-ota-token': '***' }, url: '/ota/begin?t=***' });
    expect(clean.lines).toEqual(['token=***', 42, null]);
    expect(clean['***']).toBe(true);
    expect((clean.body as Buffer).toString()).toBe('{"token":"***"}');
    expect(clean.self).toBe(clean);
    expect(clean.when).toEqual(new Date(0));
    expect(report.request).toEqual({ headers: { 'x-ota-token': TOKEN }, url: expect.any(String) });
  });

  it('redacts errors keeping their class, message and code', () => {
    const error = Object.assign(new TypeError(`bad token ${TOKEN}`), { code: 'E_AUTH' });
    const clean = redactor.redactObject(error);
    expect(clean).toBeInstanceOf(TypeError);
    expect(clean.message).toBe('bad token ***');
    expect(clean.stack).not.toContain('s3cret');
    expect(clean.code).toBe('E_AUTH');
  });

  it('removes it from bytes and keeps every other byte, even invalid UTF-8', () => {
    const bytes = Buffer.concat([
      Buffer.from([0xe9, 0xff, 0x00]),
      Buffer.from(TOKEN),
      Buffer.from([0x80, 0x0a]),
    ]);
    expect(redactor.redactBytes(bytes)).toEqual(
      Buffer.concat([Buffer.from([0xe9, 0xff, 0x00]), Buffer.from('***'), Buffer.from([0x80, 0x0a])]),
    );
    const clean = Buffer.from([0xe9, 0x01, 0x02]);
    expect(redactor.redactBytes(clean)).toBe(clean);
  });

  it('matches non-ASCII secrets in text and in bytes', () => {
    const umlaut = new Redactor(['pässwörd']);
    expect(umlaut.redact('pw=pässwörd')).toBe('pw=***');
    expect(umlaut.redactBytes(Buffer.from('pw=pässwörd!')).toString()).toBe('pw=***!');
  });

  it('removes the MD5 and SHA-256 digests ArduinoOTA treats as the password', () => {
    const password = 'ota-password';
    const md5 = createHash('md5').update(password).digest('hex');
    const sha = createHash('sha256').update(password).digest('hex');
    expect(new Redactor([password]).redact(`hash ${md5} ${sha.toUpperCase()}`)).toBe('hash *** ***');
  });

  it('redacts a short secret only where it stands as a credential value', () => {
    const short = new Redactor(['ab1']);
    expect(short.redact('GET /update?password=ab1&x=ab1x HTTP/1.1')).toBe(
      'GET /update?password=***&x=ab1x HTTP/1.1',
    );
    expect(short.redact('{"token": "ab1"} Bearer ab1 http://admin:ab1@10.0.0.5/')).toBe(
      '{"token": "***"} Bearer *** http://admin:***@10.0.0.5/',
    );
    expect(short.redact(`Authorization: Basic ${Buffer.from('admin:ab1').toString('base64')}`)).toBe(
      'Authorization: Basic ***',
    );
    expect(short.redact('tab1 is fine; lab1 too')).toBe('tab1 is fine; lab1 too');
    expect(short.redactObject({ pin: 'ab1', note: 'ab12' })).toEqual({ pin: '***', note: 'ab12' });
  });

  it('prefers the longer secret when one contains another', () => {
    const nested = new Redactor(['abcd', 'abcdefgh']);
    expect(nested.redact('x abcdefgh y abcd z')).toBe('x *** y *** z');
  });

  it('with() adds secrets for a run spanning several targets', () => {
    const run = redactor.with(['second-secret']);
    expect(run.redact(`${TOKEN} second-secret`)).toBe('*** ***');
  });
});
