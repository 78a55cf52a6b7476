/** Known answers of reference/arduino-ota.md §1.4 and the invitation parsing of §1.2. */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseAuthReply, parseInvitation } from './invitation.ts';
import { expectedResponse, responseMatches, storedPasswordHash } from './ota-auth.ts';

const md5Hex = (text: string) => createHash('md5').update(text).digest('hex');

describe('ArduinoOTA challenge/response', () => {
  it('legacy MD5: the worked vector (password admin)', () => {
    const passmd5 = storedPasswordHash('md5', 'admin');
    expect(passmd5).toBe('21232f297a57a5a743894a0e4a801fc3');
    const cnonce = md5Hex('sketch.bin123456d41d8cd98f00b204e9800998ecf8427e192.168.1.50');
    expect(cnonce).toBe('61eb11f6b5574d19d6f8283b8e40544e');
    expect(expectedResponse('md5', passmd5, '0123456789abcdef0123456789abcdef', cnonce)).toBe(
      '6ec6a60aef111a295a40912711e4a377',
    );
  });

  it('PBKDF2-HMAC-SHA256: the verified vector, with the SHA-256 and the MD5 password hash', () => {
    const nonce = 'ab'.repeat(32);
    const cnonce = 'cd'.repeat(32);
    const sha = storedPasswordHash('pbkdf2-sha256', 'a-real-password');
    expect(sha).toBe('980061b57e53c2de71a544b88d868652220a5f638b654459743bc497df202f9e');
    expect(expectedResponse('pbkdf2-sha256', sha, nonce, cnonce)).toBe(
      '4d63ba8b1efa8949a0c5caefe7e8bc77db582e5531bdf2667c663394b4551b93',
    );
    expect(expectedResponse('pbkdf2-sha256', md5Hex('a-real-password'), nonce, cnonce)).toBe(
      '72411b1f2dfce35db7cbd293c3cab25f533496919e272648e90685c4b5cf79af',
    );
  });

  it('compares case-sensitively', () => {
    expect(responseMatches('6ec6a60aef111a295a40912711e4a377', '6ec6a60aef111a295a40912711e4a377')).toBe(
      true,
    );
    expect(responseMatches('6ec6a60aef111a295a40912711e4a377', '6EC6A60AEF111A295A40912711E4A377')).toBe(
      false,
    );
  });
});

describe('invitation parsing', () => {
  const bytes = (text: string) => new TextEncoder().encode(text);
  const md5 = '0123456789abcdef0123456789abcdef';

  it('reads command, port, size and a trimmed 32-character MD5', () => {
    expect(parseInvitation(bytes(`0 51234 1168784 ${md5}\n`), [0, 100])).toEqual({
      command: 0,
      port: 51234,
      size: 1168784,
      md5,
    });
    expect(parseInvitation(bytes(`100 1 2 ${md5} \r\n`), [0, 100])?.command).toBe(100);
  });

  it('drops an unknown command, a wrong MD5 length and an over-long number', () => {
    expect(parseInvitation(bytes(`200 51234 10 ${md5}\n`), [0, 100])).toBeUndefined();
    expect(parseInvitation(bytes(`0 51234 10 ${md5.slice(2)}\n`), [0, 100])).toBeUndefined();
    // 17 digits fill parseInt's 16-byte buffer: it returns 0 and the next field starts at the
    // 17th digit, so the MD5 field becomes `10 <md5>` and the datagram is dropped.
    expect(parseInvitation(bytes(`0 12345678901234567 10 ${md5}\n`), [0, 100])).toBeUndefined();
    // Exactly 16 digits also leave no room for the terminator: 0. Fifteen are read.
    expect(parseInvitation(bytes(`0 1234567890123456 10 ${md5}\n`), [0, 100])?.port).toBe(0);
    // Fifteen digits: atoi() saturates at INT_MAX, and the uint16_t port keeps its low bits, 0xFFFF.
    expect(parseInvitation(bytes(`0 123456789012345 10 ${md5}\n`), [0, 100])?.port).toBe(0xffff);
    expect(parseInvitation(bytes(`0 99999 10 ${md5}\n`), [0, 100])?.port).toBe(99999 - 65536);
    expect(parseInvitation(bytes(`0 51234 10 ${md5}\n`), [0, 100])?.port).toBe(51234);
  });

  it('reads the AUTH reply only with command 200 and the scheme length', () => {
    const cnonce = 'c'.repeat(32);
    const response = 'd'.repeat(32);
    expect(parseAuthReply(bytes(`200 ${cnonce} ${response}\n`), 32)).toEqual({ cnonce, response });
    expect(parseAuthReply(bytes(`200 ${cnonce} ${response}\n`), 64)).toBeUndefined();
    expect(parseAuthReply(bytes(`0 ${cnonce} ${response}\n`), 32)).toBeUndefined();
  });
});
