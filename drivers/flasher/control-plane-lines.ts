import { FlasherPortError } from './errors.ts';
import type { ModemLineSink, ModemLineState } from './web-serial-port.ts';

/**
 * DTR/RTS through an emulator's control plane (`POST /serial/lines?dtr=&rts=`), for a chip whose
 * UART is a raw TCP port: raw TCP drops modem lines (T11, reference §8.1), so the lines travel
 * beside it, as they would over RFC 2217 to a networked serial server.
 */
export function controlPlaneLines(baseUrl: string, token?: string): ModemLineSink {
  return {
    async set(lines: ModemLineState): Promise<void> {
      const url = `${baseUrl.replace(/\/$/, '')}/serial/lines?dtr=${lines.dtr}&rts=${lines.rts}`;
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
          signal: AbortSignal.timeout(5_000),
        });
      } catch (error) {
        throw new FlasherPortError(`cannot set DTR/RTS through ${baseUrl}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await response.arrayBuffer();
      if (!response.ok)
        throw new FlasherPortError(`cannot set DTR/RTS through ${baseUrl}: HTTP ${response.status}`);
    },
  };
}
