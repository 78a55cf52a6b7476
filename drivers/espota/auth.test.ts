import { describe, expect, it } from 'vitest';
import { authDatagram, challengeResponse, clientNonce, md5Hex, schemeOfNonce, sha256Hex } from './auth.ts';

// Known answers: reference/arduino-ota.md §1.4 A (worked vector) and B (verified test vector).
describe('espota challenge responses', () => {
  it('MD5 scheme: cnonce and response of the reference worked vector', async () => {
    const cnonce = clientNonce('md5', {
      fileName: 'sketch.bin',
      size: 123456,
      md5: 'd41d8cd98f00b204e9800998ecf8427e',
      remoteAddress: '192.168.1.50',
    });
    expect(md5Hex('admin')).toBe('21232f297a57a5a743894a0e4a801fc3');
    expect(cnonce).toBe('61eb11f6b5574d19d6f8283b8e40544e');
    const response = await challengeResponse('md5', 'admin', '0123456789abcdef0123456789abcdef', cnonce);
    expect(response).toBe('6ec6a60aef111a295a40912711e4a377');
    expect(authDatagram(cnonce, response)).toHaveLength(70);
  });

  it('PBKDF2-SHA256 scheme: the reference vector, with the SHA-256 and the MD5 password hash', async () => {
    const nonce = 'ab'.repeat(32);
    const cnonce = 'cd'.repeat(32);
    expect(sha256Hex('a-real-password')).toBe(
      '980061b57e53c2de71a544b88d868652220a5f638b654459743bc497df202f9e',
    );
    expect(await challengeResponse('sha256', 'a-real-password', nonce, cnonce)).toBe(
      '4d63ba8b1efa8949a0c5caefe7e8bc77db582e5531bdf2667c663394b4551b93',
    );
    expect(await challengeResponse('sha256', 'a-real-password', nonce, cnonce, 'md5')).toBe(
      '72411b1f2dfce35db7cbd293c3cab25f533496919e272648e90685c4b5cf79af',
    );
    expect(authDatagram(cnonce, 'ef'.repeat(32))).toHaveLength(134);
  });

  it('a wrong password gives a different response in both schemes', async () => {
    const nonce = '0123456789abcdef0123456789abcdef';
    expect(await challengeResponse('md5', 'admin', nonce, nonce)).not.toBe(
      await challengeResponse('md5', 'admin2', nonce, nonce),
    );
    const long = nonce + nonce;
    expect(await challengeResponse('sha256', 'admin', long, long)).not.toBe(
      await challengeResponse('sha256', 'admin2', long, long),
    );
  });

  it('picks the scheme by nonce length like espota: 32 → md5, 64 → sha256, else none', () => {
    expect(schemeOfNonce('a'.repeat(32))).toBe('md5');
    expect(schemeOfNonce('a'.repeat(64))).toBe('sha256');
    expect(schemeOfNonce('a'.repeat(40))).toBeUndefined();
  });
});
