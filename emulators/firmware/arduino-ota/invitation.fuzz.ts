import fc from 'fast-check';
import { ascii, type FuzzTarget } from '../../../fuzz/fuzz-target.ts';
import { parseAuthReply, parseInvitation } from './invitation.ts';

const MD5 = '0123456789abcdef0123456789abcdef';

/** The espota datagrams the device parses: invitations (both cores' commands) and AUTH replies. */
export const fuzzTargets: FuzzTarget[] = [
  {
    name: 'espota/invitation (emulator)',
    seeds: [ascii(`0 48266 245760 ${MD5}\n`), ascii(`100 1 2 ${MD5} \r\n`), ascii(`0 99999 1000 ${MD5}\n`)],
    structured: fc
      .tuple(
        fc.constantFrom('0', '100', '101', '200', ''),
        fc.oneof(fc.nat().map(String), fc.stringMatching(/^[0-9]{1,20}$/)),
        fc.oneof(fc.nat().map(String), fc.stringMatching(/^[0-9 -]{0,20}$/)),
        fc.stringMatching(/^[0-9a-f]{0,40}$/),
      )
      .map(([command, port, size, md5]) => ascii(`${command} ${port} ${size} ${md5}\n`)),
    run(input) {
      const invitation = parseInvitation(input, [0, 100]);
      // Whatever a datagram names, the device connects to a port a socket accepts.
      if (invitation !== undefined && !(invitation.port >= 0 && invitation.port <= 0xffff))
        throw new RangeError(`invitation port ${invitation.port} is not a TCP port`);
    },
  },
  {
    name: 'espota/auth-reply (emulator)',
    seeds: [ascii(`200 ${MD5} ${MD5}\n`), ascii(`200 ${'a'.repeat(64)} ${'b'.repeat(64)}\n`)],
    run(input) {
      parseAuthReply(input, 32);
      parseAuthReply(input, 64);
    },
  },
];
