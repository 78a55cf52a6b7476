import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import type { FirmwareContext } from '../../device/index.ts';
import { EspError, OTA_SIZE_UNKNOWN } from '../../esp32-ota-ops/index.ts';

/** Lua RTOS build settings and the emulator's reach-ability knobs (reference/viperhttp-luartos-mqtt.md §2.1). */
export interface LuaRtosOptions {
  /** CONFIG_LUA_RTOS_OTA_SERVER_NAME. */
  server: string;
  /** The real build connects to 443; tests use a free loopback port. */
  port: number;
  /** CONFIG_LUA_RTOS_FIRMWARE (FIRMWARE_ID). */
  firmware: string;
  /** BUILD_COMMIT. */
  commit: string;
  /** BUILD_TIME: the epoch second of the build (`date +%s`, components/sys/Makefile.projbuild 54–60). */
  buildTime: number;
  checkOnBoot: boolean;
  checkIntervalMs: number;
  /** `SO_RCVTIMEO` of the socket (10 s in net_http.c). */
  receiveTimeoutMs: number;
}

export const DEFAULT_LUARTOS_OPTIONS: LuaRtosOptions = {
  server: 'ota.whitecatboard.org',
  port: 443,
  firmware: 'GENERIC-OTA',
  commit: '6b455df4965c2242754a80896562e254ba0ee528',
  buildTime: 1_669_939_200,
  checkOnBoot: true,
  checkIntervalMs: 0,
  receiveTimeoutMs: 10_000,
};

/** LUA_OS_VER (components/lua/common/luaconf_custom.h 11). */
export const LUA_OS_VER = 'beta 0.1';

const CHUNK_SIZE = 1024;
const LINE_LIMIT = 2048;
const OCTET_STREAM = 'application/octet-stream';

/** A Lua RTOS driver error (`luaL_driver_error`): net.ota() raises it to the Lua caller. */
export class LuaDriverError extends Error {
  constructor(
    readonly exception: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads a TLS stream the way net_http.c does: single bytes for lines, ≤1024-byte SSL_reads for the body. */
class SslReader {
  private buffered: Buffer[] = [];
  private size = 0;
  private ended = false;
  private wake: (() => void) | undefined;

  constructor(
    socket: TLSSocket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered.push(chunk);
      this.size += chunk.length;
      this.wake?.();
    });
    const end = () => {
      this.ended = true;
      this.wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** `SSL_read(max)`: some bytes, or an empty buffer at EOF. Throws when SO_RCVTIMEO passes. */
  async read(max: number): Promise<Buffer> {
    while (this.size === 0) {
      if (this.ended) return Buffer.alloc(0);
      await this.waitForData();
    }
    const first = this.buffered[0]!;
    const bytes = first.length <= max ? first : first.subarray(0, max);
    if (bytes === first) this.buffered.shift();
    else this.buffered[0] = first.subarray(max);
    this.size -= bytes.length;
    return bytes;
  }

  /** `net_http_read_line`: up to LF; the line must end in CRLF. */
  async readLine(): Promise<string> {
    let line = '';
    for (;;) {
      const byte = await this.read(1);
      if (byte.length === 0) throw new LuaDriverError('InvalidResponse', 'http response');
      const char = String.fromCharCode(byte[0]!);
      line += char;
      if (char === '\n') break;
      if (line.length >= LINE_LIMIT) throw new LuaDriverError('InvalidResponse', 'http response');
    }
    if (line.length < 2 || !line.endsWith('\r\n'))
      throw new LuaDriverError('InvalidResponse', 'http response');
    return line.slice(0, -2);
  }

  private waitForData(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new LuaDriverError('CannotConnect', 'receive timeout'));
      }, this.timeoutMs);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
    });
  }
}

/** The request bytes of net_http.c's HTTP_CLIENT_GET (reference §2.2 step 6). */
export function luaRtosRequest(
  options: Pick<LuaRtosOptions, 'server' | 'port' | 'firmware' | 'commit'>,
  { tidyHost = false } = {},
): string {
  // The `tidy-host-header` defect: the usual `Host: <server>`, without net_http.c's port and trailing space.
  const host = tidyHost ? options.server : `${options.server}:${options.port} `;
  return `GET /?firmware=${options.firmware}&commit=${options.commit} HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
}

function hex8(value: number): string {
  return value.toString(16).padStart(8, '0');
}

/**
 * `net.ota()` on master (components/sys/drivers/net.c 445–555): one HTTPS GET over TLS 1.1 with
 * no certificate check and no SNI, case-sensitive headers, 200 → flash the next slot and restart,
 * 470/471 → a message, anything else → nothing.
 */
export async function netOta(context: FirmwareContext, options: LuaRtosOptions): Promise<void> {
  const esp32 = context.esp32!;
  const console = context.console;
  const print = (text: string) => {
    if (!context.signal.aborted) console.line(text);
  };
  const update = esp32.ota.getNextUpdatePartition();
  if (!update) throw new LuaDriverError('NoOTA', 'OTA partition not found');
  print(`Connecting to https://${options.server} ...`);

  const tcp = netConnect({ host: options.server, port: options.port });
  const onAbort = () => tcp.destroy();
  context.signal.addEventListener('abort', onAbort, { once: true });
  try {
    try {
      await once(tcp, 'connect');
    } catch {
      throw new LuaDriverError('CannotConnect', 'cannot connect');
    }
    // TLSv1_1_client_method(), no CA loaded (VERIFY_NONE), no SSL_set_tlsext_host_name: no SNI.
    const socket = tlsConnect({
      socket: tcp,
      minVersion: 'TLSv1.1',
      maxVersion: 'TLSv1.1',
      ciphers: 'DEFAULT@SECLEVEL=0',
      rejectUnauthorized: false,
    });
    try {
      await once(socket, 'secureConnect');
    } catch {
      throw new LuaDriverError('CannotConnectSSL', 'cannot connect SSL');
    }
    print(`Current firmware commit is ${options.commit}`);
    socket.write(luaRtosRequest(options, { tidyHost: context.defects.has('tidy-host-header') }));
    const reader = new SslReader(socket, options.receiveTimeoutMs);

    const statusLine = await reader.readLine();
    const [protocol, rest] = [statusLine.split('/')[0], statusLine.slice(statusLine.indexOf('/') + 1)];
    if (protocol !== 'HTTP') throw new LuaDriverError('InvalidResponse', 'not HTTP protocol');
    const code = Number.parseInt(rest.split(' ')[1] ?? '', 10) || 0;
    const flashes = code === 200 || (code === 471 && context.defects.has('flashes-on-471'));
    if (!flashes) {
      socket.destroy();
      // The `silent-on-470` defect handles 470 like any unknown code: nothing is printed.
      if (code === 470 && !context.defects.has('silent-on-470')) print('Missing or bad arguments');
      else if (code === 471) print('No new firmware available');
      return;
    }

    // Headers (read only for 200). The stack variable is never zeroed: without a Content-Length the
    // size is garbage; the emulator takes 0, the zero-length path.
    let size = 0;
    const caseInsensitive = context.defects.has('accepts-lowercase-headers');
    for (;;) {
      const line = await reader.readLine();
      if (line === '') break;
      const colon = line.indexOf(':');
      if (colon === -1) continue;
      const rawName = line.slice(0, colon);
      const name = caseInsensitive ? canonical(rawName) : rawName;
      const value = line.slice(colon + 2);
      if (name === 'Content-Type' && value !== OCTET_STREAM && !value.startsWith(`${OCTET_STREAM};`)) {
        throw new LuaDriverError('InvalidContent', `Content-Type is '${value}', expected '${OCTET_STREAM}'`);
      }
      if (name === 'Content-Length') size = Number.parseInt(value, 10) || 0;
    }

    if (size > 0) {
      const flashed = await writePartition(context, reader, size, print);
      if (!flashed && !context.defects.has('restarts-after-failed-download')) {
        socket.destroy();
        return;
      }
    }
    socket.destroy();
    // The `no-restart-on-empty-200` defect treats an empty 200 as "nothing to do", unlike net.c.
    if (size === 0 && context.defects.has('no-restart-on-empty-200')) return;
    print('Restarting ...');
    context.restart();
  } finally {
    context.signal.removeEventListener('abort', onAbort);
    tcp.destroy();
  }
}

/** net.c 477–549: begin, ≤1024-byte writes, end (the only verification), set boot. False when it stopped early. */
async function writePartition(
  context: FirmwareContext,
  reader: SslReader,
  size: number,
  print: (text: string) => void,
): Promise<boolean> {
  const ota = context.esp32!.ota;
  const running = ota.getRunningPartition();
  const update = ota.getNextUpdatePartition()!;
  print(`Running partition is ${running.label}, at offset 0x${hex8(running.offset)}`);
  print(`Writing partition is ${update.label}, at offset 0x${hex8(update.offset)}`);
  print('Begin OTA update ...');
  let handle: number;
  try {
    handle = ota.begin(update, OTA_SIZE_UNKNOWN);
  } catch (error) {
    if (!(error instanceof EspError)) throw error;
    print(`Failed, error ${error.err}`);
    return false;
  }
  // `\rChunk written …` progress has no newline: the terminal shows it as one line that ends at `\nEnding`.
  let progress = '';
  let remaining = size;
  let offset = update.offset;
  while (remaining > 0) {
    let bytes: Buffer;
    try {
      bytes = await reader.read(Math.min(remaining, CHUNK_SIZE));
    } catch (error) {
      // The receive timeout raises to the Lua caller with the handle still open. The IDF Lua RTOS
      // builds with (cc9b06d4, its Makefile) has no "already in progress" check in esp_ota_begin,
      // so the next net.ota() begins again; the emulated chip, which has that check, forgets it.
      ota.abort(handle);
      throw error;
    }
    // A premature EOF is undefined on the chip (the loop spins); the emulator stops reading.
    if (bytes.length === 0) break;
    if (!context.imageBytesArrived(bytes.length)) return false;
    try {
      ota.write(handle, bytes);
    } catch (error) {
      if (!(error instanceof EspError)) throw error;
      print(progress);
      print(`Chunk written unsuccessfully in partition (offset 0x${hex8(offset)}), error ${error.err}`);
      ota.abort(handle);
      return false;
    }
    progress += `\rChunk written successfully in partition at offset 0x${hex8(offset)}`;
    offset += bytes.length;
    remaining -= bytes.length;
    await context.pace();
  }
  print(progress);
  print('Ending OTA update ...');
  try {
    ota.end(handle);
  } catch (error) {
    if (!(error instanceof EspError)) throw error;
    print('Failed');
    return false;
  }
  print('Changing boot partition ...');
  try {
    ota.setBootPartition(update);
    print('Updated');
  } catch (error) {
    if (!(error instanceof EspError)) throw error;
    print(`Failed, err ${error.err}`);
  }
  return true;
}

/** The `accepts-lowercase-headers` defect: header names compared without regard to case. */
function canonical(name: string): string {
  const lower = name.toLowerCase();
  if (lower === 'content-type') return 'Content-Type';
  if (lower === 'content-length') return 'Content-Length';
  return name;
}
