import dns from 'node:dns';
import { isIP } from 'node:net';

/**
 * While the network fuzzing runs, this process resolves no host names but `localhost`: every
 * other `dns.lookup` (which node:net, node:tls and node:http use for a name) fails at once with
 * ENOTFOUND, as on a device whose resolver knows nothing. A mutated URL that the emulated
 * device's own parser reads as a name (one the WHATWG check in hostile-answers.ts passed, or could
 * not parse) then costs a failed connection, never a query to the machine's resolver: the tests'
 * traffic stays on loopback. IP literals need no lookup; hostile-answers.ts keeps them on 127/8
 * and ::1. Returns the function that puts the real lookup back.
 */
export function resolveOnlyLocalhost(): () => void {
  const real = dns.lookup;
  const confined = ((hostname: string, ...rest: unknown[]) => {
    const callback = rest[rest.length - 1] as (
      error: NodeJS.ErrnoException | null,
      address?: string | dns.LookupAddress[],
      family?: number,
    ) => void;
    const options = (typeof rest[0] === 'object' && rest[0] !== null ? rest[0] : {}) as dns.LookupOptions;
    const family = typeof rest[0] === 'number' ? rest[0] : options.family;
    const literal = isIP(hostname);
    const address =
      literal !== 0
        ? { address: hostname, family: literal }
        : hostname.toLowerCase() === 'localhost'
          ? family === 6
            ? { address: '::1', family: 6 }
            : { address: '127.0.0.1', family: 4 }
          : undefined;
    process.nextTick(() => {
      if (address === undefined) {
        const error: NodeJS.ErrnoException = new Error(
          `getaddrinfo ENOTFOUND ${hostname} (the network fuzzing resolves no names: loopback only)`,
        );
        error.code = 'ENOTFOUND';
        error.syscall = 'getaddrinfo';
        callback(error);
      } else if (options.all) callback(null, [address]);
      else callback(null, address.address, address.family);
    });
  }) as typeof dns.lookup;
  dns.lookup = confined;
  return () => {
    if (dns.lookup === confined) dns.lookup = real;
  };
}
