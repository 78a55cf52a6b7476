import { describe, expect, it } from 'vitest';
import {
  basicAuthorization,
  digestAuthorization,
  parseChallenges,
  UnsupportedDigestError,
} from './digest-auth.ts';

describe('digest auth', () => {
  // RFC 2617 §3.5's worked example.
  const rfcChallenge =
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"';

  it('answers RFC 2617 §3.5 with its published response', () => {
    const [challenge] = parseChallenges(rfcChallenge);
    const header = digestAuthorization({
      username: 'Mufasa',
      password: 'Circle Of Life',
      method: 'GET',
      uri: '/dir/index.html',
      challenge: challenge!,
      cnonce: '0a4f113b',
    });
    expect(header).toContain('response="6629fae49393a05397450978507c4ef1"');
    expect(header).toContain('nc=00000001, cnonce="0a4f113b"');
    // A different password gives a different response (the check can fail).
    const other = digestAuthorization({
      username: 'Mufasa',
      password: 'circle of life',
      method: 'GET',
      uri: '/dir/index.html',
      challenge: challenge!,
      cnonce: '0a4f113b',
    });
    expect(other).not.toContain('6629fae49393a05397450978507c4ef1');
  });

  it('orders fields for the ESP WebServer parser: nonce before cnonce, nc followed by a comma', () => {
    const [challenge] = parseChallenges(rfcChallenge);
    const header = digestAuthorization({
      username: 'u',
      password: 'p',
      method: 'POST',
      uri: '/update',
      challenge: challenge!,
    });
    expect(header.indexOf('nonce="')).toBeLessThan(header.indexOf('cnonce="'));
    expect(header.indexOf('nonce="')).toBe(header.indexOf(' nonce="') + 1);
    expect(/nc=[0-9a-f]{8},/.test(header)).toBe(true);
    expect(header).toContain('opaque="5ccc069c403ebaf9f0171e9517f40e41"');
  });

  it('without qop it falls back to RFC 2069 (no nc/cnonce); a non-MD5 algorithm is refused', () => {
    const [plain] = parseChallenges('Digest realm="r", nonce="n"');
    const header = digestAuthorization({
      username: 'u',
      password: 'p',
      method: 'GET',
      uri: '/',
      challenge: plain!,
    });
    expect(header).not.toContain('nc=');
    expect(header).not.toContain('qop=');
    const [sha] = parseChallenges('Digest realm="r", nonce="n", algorithm=SHA-256, qop="auth"');
    expect(() =>
      digestAuthorization({ username: 'u', password: 'p', method: 'GET', uri: '/', challenge: sha! }),
    ).toThrow(UnsupportedDigestError);
  });

  it('parses several challenges in one header and Basic', () => {
    const challenges = parseChallenges(
      'Basic realm="Login Required", Digest realm="x", nonce="abc", qop="auth"',
    );
    expect(challenges.map((c) => c.scheme)).toEqual(['basic', 'digest']);
    expect(challenges[0]!.params.realm).toBe('Login Required');
    expect(challenges[1]!.params).toMatchObject({ realm: 'x', nonce: 'abc', qop: 'auth' });
    expect(basicAuthorization('Aladdin', 'open sesame')).toBe('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  });
});
