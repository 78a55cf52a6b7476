/**
 * An uploader written from reference/arduino-ota.md §1 (espota.py's side of the protocol) for the
 * tests: raw node:dgram and node:net, no code shared with the emulated firmware.
 */
import { createHash, pbkdf2Sync } from 'node:crypto';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';

const md5Hex = (data: string | Uint8Array) => createHash('md5').update(data).digest('hex');
const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

export interface EspotaOptions {
  port: number;
  image: Uint8Array;
  password?: string;
  /** PBKDF2 only: hash the password with MD5 instead of SHA-256 (espota's -m / fallback). */
  pbkdf2PasswordHash?: 'sha256' | 'md5';
  /** Send the AUTH answer from a new UDP socket, as the newest ESP32 espota does. */
  authFromNewSocket?: boolean;
  /** Override the answer (to send a wrong one). */
  tamperResponse?: (response: string) => string;
  command?: number;
  /** Announce this MD5 instead of the image's. */
  md5?: string;
  fileName?: string;
  /** 1460 (ESP8266 espota) or 1024 (ESP32 espota). */
  chunkSize?: number;
  /** Bytes actually streamed (default the image): a corrupted stream. */
  stream?: Uint8Array;
  /** Stop sending after this many bytes and hold the connection open for `holdMs`, or close it. */
  stallAfterBytes?: number;
  stallAction?: 'hold' | 'close';
  holdMs?: number;
  replyTimeoutMs?: number;
  connectTimeoutMs?: number;
  ackTimeoutMs?: number;
  resultTimeoutMs?: number;
}

export interface EspotaOutcome {
  /** The first UDP reply to the invitation (undefined: no answer). */
  invitationReply?: string;
  /** The reply to the AUTH datagram. */
  authReply?: string;
  /** Whether the device connected back over TCP. */
  connected: boolean;
  /** Everything the device wrote on the TCP connection. */
  received: string;
  /** What arrived after the last chunk was acknowledged. */
  result: string;
  /** The device closed the TCP connection (before the client did). */
  closedByDevice: boolean;
  /** ms from the stall until the device closed, when it did. */
  closedAfterStallMs?: number;
  error?: 'No Answer' | 'No Answer to our Authentication' | 'No response from device' | 'Error Uploading';
}

const HOST = '127.0.0.1';

function waitUdp(socket: UdpSocket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      socket.off('message', onMessage);
      resolve(undefined);
    }, timeoutMs);
    const onMessage = (data: Buffer) => {
      clearTimeout(timer);
      resolve(data.toString('latin1'));
    };
    socket.once('message', onMessage);
  });
}

async function udpSocket(): Promise<UdpSocket> {
  const socket = createSocket('udp4');
  socket.bind(0, HOST);
  await once(socket, 'listening');
  return socket;
}

/** Sends one datagram from a fresh socket and returns the reply (or undefined within the timeout). */
export async function sendDatagram(port: number, text: string, timeoutMs = 500): Promise<string | undefined> {
  const socket = await udpSocket();
  try {
    const reply = waitUdp(socket, timeoutMs);
    socket.send(text, port, HOST);
    return await reply;
  } finally {
    socket.close();
  }
}

/** The invitation line of §1.2. */
export function invitationLine(command: number, hostPort: number, size: number, md5: string): string {
  return `${command} ${hostPort} ${size} ${md5}\n`;
}

/** The AUTH datagram of §1.4, picking the scheme by the nonce length like espota. */
export function authDatagram(
  nonce: string,
  password: string,
  file: { name: string; size: number; md5: string },
  pbkdf2PasswordHash: 'sha256' | 'md5' = 'sha256',
): string {
  const seed = `${file.name}${file.size}${file.md5}${HOST}`;
  if (nonce.length === 32) {
    const cnonce = md5Hex(seed);
    const response = md5Hex(`${md5Hex(password)}:${nonce}:${cnonce}`);
    return `200 ${cnonce} ${response}\n`;
  }
  const cnonce = sha256Hex(seed);
  const passwordHash = pbkdf2PasswordHash === 'md5' ? md5Hex(password) : sha256Hex(password);
  const key = pbkdf2Sync(passwordHash, `${nonce}:${cnonce}`, 10_000, 32, 'sha256');
  const response = sha256Hex(`${key.toString('hex')}:${nonce}:${cnonce}`);
  return `200 ${cnonce} ${response}\n`;
}

export async function espota(options: EspotaOptions): Promise<EspotaOutcome> {
  const image = options.image;
  const stream = options.stream ?? image;
  const md5 = options.md5 ?? md5Hex(image);
  const chunkSize = options.chunkSize ?? 1460;
  const fileName = options.fileName ?? 'sketch.bin';
  const outcome: EspotaOutcome = { connected: false, received: '', result: '', closedByDevice: false };

  const server = createServer();
  server.listen(0, HOST);
  await once(server, 'listening');
  const address = server.address();
  const hostPort = typeof address === 'object' && address ? address.port : 0;
  const accepted = new Promise<Socket | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), options.connectTimeoutMs ?? 3000);
    server.once('connection', (socket) => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
  const udp = await udpSocket();
  try {
    const firstReply = waitUdp(udp, options.replyTimeoutMs ?? 2000);
    udp.send(invitationLine(options.command ?? 0, hostPort, image.length, md5), options.port, HOST);
    outcome.invitationReply = await firstReply;
    if (outcome.invitationReply === undefined) {
      outcome.error = 'No Answer';
      return outcome;
    }
    if (outcome.invitationReply.startsWith('AUTH ')) {
      const nonce = outcome.invitationReply.slice(5);
      let datagram = authDatagram(
        nonce,
        options.password ?? '',
        { name: fileName, size: image.length, md5 },
        options.pbkdf2PasswordHash,
      );
      if (options.tamperResponse) {
        const [cmd, cnonce, response] = datagram.trim().split(' ');
        datagram = `${cmd} ${cnonce} ${options.tamperResponse(response ?? '')}\n`;
      }
      const authSocket = options.authFromNewSocket ? await udpSocket() : udp;
      try {
        const reply = waitUdp(authSocket, options.replyTimeoutMs ?? 2000);
        authSocket.send(datagram, options.port, HOST);
        outcome.authReply = await reply;
      } finally {
        if (authSocket !== udp) authSocket.close();
      }
      if (outcome.authReply === undefined) {
        outcome.error = 'No Answer to our Authentication';
        return outcome;
      }
      if (outcome.authReply !== 'OK') {
        outcome.connected = (await accepted) !== undefined;
        return outcome;
      }
    } else if (outcome.invitationReply !== 'OK') {
      outcome.connected = (await accepted) !== undefined;
      return outcome;
    }

    const socket = await accepted;
    if (socket === undefined) {
      outcome.error = 'No response from device';
      return outcome;
    }
    outcome.connected = true;
    return await upload(socket, stream, chunkSize, options, outcome);
  } finally {
    udp.close();
    server.close();
  }
}

async function upload(
  socket: Socket,
  stream: Uint8Array,
  chunkSize: number,
  options: EspotaOptions,
  outcome: EspotaOutcome,
): Promise<EspotaOutcome> {
  let closed = false;
  let stalledAt: number | undefined;
  let pending: (() => void) | undefined;
  socket.on('data', (data: Buffer) => {
    outcome.received += data.toString('latin1');
    pending?.();
  });
  socket.on('close', () => {
    if (!closed) {
      closed = true;
      outcome.closedByDevice = true;
      if (stalledAt !== undefined) outcome.closedAfterStallMs = Date.now() - stalledAt;
    }
    pending?.();
  });
  socket.on('error', () => {});
  const waitForDevice = (timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        pending = undefined;
        resolve(false);
      }, timeoutMs);
      pending = () => {
        clearTimeout(timer);
        pending = undefined;
        resolve(true);
      };
    });

  const limit = options.stallAfterBytes ?? stream.length;
  for (let offset = 0; offset < limit && !closed; offset += chunkSize) {
    const chunk = stream.subarray(offset, Math.min(offset + chunkSize, limit));
    const before = outcome.received.length;
    socket.write(chunk);
    const answered = await waitForDevice(options.ackTimeoutMs ?? 3000);
    if (!answered || outcome.received.length === before) {
      outcome.error = 'Error Uploading';
      socket.destroy();
      closed = true;
      return outcome;
    }
  }
  if (options.stallAfterBytes !== undefined) {
    stalledAt = Date.now();
    if (options.stallAction === 'close') {
      closed = true;
      socket.end();
      await new Promise((resolve) => setTimeout(resolve, 50));
      return outcome;
    }
    const deadline = Date.now() + (options.holdMs ?? 3000);
    while (!closed && Date.now() < deadline) await waitForDevice(deadline - Date.now());
    if (!closed) {
      closed = true;
      socket.destroy();
    }
    return outcome;
  }
  const acked = outcome.received.length;
  const deadline = Date.now() + (options.resultTimeoutMs ?? 5000);
  while (!closed && Date.now() < deadline) await waitForDevice(deadline - Date.now());
  outcome.result = outcome.received.slice(acked);
  if (!closed) {
    closed = true;
    socket.destroy();
  }
  return outcome;
}
