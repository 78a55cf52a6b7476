import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FirmwareContext } from '../../device/index.ts';
import { type Esp32Update, esp32UpdateFor, updateCommands } from '../../esp32-arduino-update/index.ts';
import { type Esp8266Updater, U_FLASH, U_FS } from '../../esp8266-updater/index.ts';
import { WRITES_SKETCH_IN_PLACE } from '../esp8266-staging-defect.ts';
import { esp8266SignatureDefect } from '../signing-options.ts';
import type { ArduinoOtaSettings } from './arduino-ota-options.ts';
import { DeviceTcpClient } from './device-tcp-client.ts';
import { type Invitation, parseAuthReply, parseInvitation } from './invitation.ts';
import { challengeHexLength, expectedResponse, makeNonce, responseMatches } from './ota-auth.ts';

/** `ota_error_t`: what the sketch's onError callback receives. */
export const OtaErrorKind = {
  AUTH: 0,
  BEGIN: 1,
  CONNECT: 2,
  RECEIVE: 3,
  END: 4,
} as const;
export type OtaErrorKind = (typeof OtaErrorKind)[keyof typeof OtaErrorKind];

/** The sketch's callbacks (`ArduinoOTA.onStart/onProgress/onEnd/onError`). */
export interface ArduinoOtaCallbacks {
  onStart(command: number): void;
  onProgress(progress: number, total: number): void;
  onEnd(): void;
  onError(error: OtaErrorKind): void;
}

/** The data phase reads at most this much per step on ESP32 (its static buffer). */
const ESP32_READ_BUFFER = 1460;
/** ESP32: re-sends of the last count before giving up on a silent uploader. */
const ESP32_RECEIVE_RETRIES = 3;
/** ESP8266: the inner `waited = 1000` poll of 1 ms ticks; its timeout branch never fires (§1.5, derived). */
const ESP8266_POLL_MS = 1000;
/** lwIP's UDP receive mailbox on ESP32 (CONFIG_LWIP_UDP_RECVMBOX_SIZE): datagrams queued while busy. */
const ESP32_UDP_QUEUE = 6;

type State = 'idle' | 'wait-auth' | 'run-update';

interface Datagram {
  data: Buffer;
  from: RemoteInfo;
}

/**
 * ArduinoOTA as each core implements it (reference/arduino-ota.md §1): the UDP invitation, the
 * optional challenge, the TCP connect-back, the counted data phase and the final `OK` or error
 * text, then ESP.restart(). ESP8266 handles datagrams in a receive callback and answers `OK` only
 * after Update.begin(); ESP32 handles them from loop(), one per pass, and answers `OK` first.
 */
export class ArduinoOtaService {
  private readonly udp: Socket;
  private state: State = 'idle';
  private nonce = '';
  private invitation: Invitation | undefined;
  private otaAddress = '';
  private otaUdpPort = 0;
  private busy = false;
  private readonly queue: Datagram[] = [];
  private client: DeviceTcpClient | undefined;
  private readonly bootTime = process.hrtime.bigint();
  private readonly esp8266Update: Esp8266Updater | undefined;
  private readonly esp32Update: Esp32Update | undefined;
  private readonly acceptedCommands: readonly number[];

  constructor(
    private readonly context: FirmwareContext,
    private readonly settings: ArduinoOtaSettings,
    private readonly callbacks: ArduinoOtaCallbacks,
  ) {
    this.udp = createSocket({ type: context.host.includes(':') ? 'udp6' : 'udp4' });
    if (context.platform === 'esp8266') {
      this.esp8266Update = context.esp8266?.createUpdater({
        writeSketchInPlace: context.defects.has(WRITES_SKETCH_IN_PLACE.name),
        ...esp8266SignatureDefect(context.defects),
      });
      this.acceptedCommands = [U_FLASH, U_FS];
    } else {
      this.esp32Update = esp32UpdateFor(context, {
        core: settings.updateCore,
        cryptMode: settings.cryptMode,
      });
      const commands = updateCommands(settings.updateCore);
      this.acceptedCommands = [commands.U_FLASH, commands.U_SPIFFS];
    }
  }

  /** `ArduinoOTA.begin()`: binds the UDP port. */
  async begin(): Promise<number> {
    this.udp.on('message', (data, from) => this.onDatagram(data, from));
    this.udp.on('error', () => {});
    this.udp.bind(this.settings.port || this.context.preferredPort('ota'), this.context.host);
    await once(this.udp, 'listening');
    return this.udp.address().port;
  }

  /** The chip resets: sockets vanish. */
  stop(): void {
    this.client?.destroy();
    try {
      this.udp.close();
    } catch {
      // Already closed.
    }
  }

  private get defects(): ReadonlySet<string> {
    return this.context.defects;
  }

  private onDatagram(data: Buffer, from: RemoteInfo): void {
    if (this.context.signal.aborted) return;
    if (this.context.platform === 'esp8266') {
      // The lwIP receive callback runs even while loop() is inside the update; it only acts in IDLE/WAITAUTH.
      if (this.state === 'run-update' || this.busy) return;
      this.handleDatagram(data, from);
      if (this.currentState() === 'run-update') setImmediate(() => void this.runUpdate());
      return;
    }
    if (this.queue.length < ESP32_UDP_QUEUE) this.queue.push({ data, from });
    if (!this.busy) setImmediate(() => void this.pump());
  }

  /** ESP32 loop(): handle() parses one datagram per pass and runs the update inline. */
  private async pump(): Promise<void> {
    while (!this.busy && !this.context.signal.aborted) {
      const next = this.queue.shift();
      if (next === undefined) return;
      this.handleDatagram(next.data, next.from);
      if (this.currentState() === 'run-update') await this.runUpdate();
    }
  }

  /** Read through a method: handleDatagram() changes it behind TypeScript's narrowing. */
  private currentState(): State {
    return this.state;
  }

  private handleDatagram(data: Buffer, from: RemoteInfo): void {
    if (this.state === 'idle') {
      const invitation = parseInvitation(data, this.acceptedCommands);
      if (invitation === undefined) return;
      this.invitation = invitation;
      this.otaUdpPort = from.port;
      if (this.context.platform === 'esp8266') this.otaAddress = from.address;
      if (this.settings.passwordHash !== '' && !this.defects.has('ignores-password')) {
        // `static-nonce`: a challenge that never changes lets a recorded answer be replayed.
        this.nonce = makeNonce(this.settings.scheme, this.defects.has('static-nonce') ? 0 : this.micros());
        this.reply(from, `AUTH ${this.nonce}`);
        this.state = 'wait-auth';
        return;
      }
      if (this.context.platform === 'esp32') {
        this.reply(from, 'OK');
        this.otaAddress = from.address;
      }
      this.state = 'run-update';
      return;
    }
    if (this.state === 'wait-auth') {
      const auth = parseAuthReply(data, challengeHexLength(this.settings.scheme));
      if (auth === undefined) {
        this.state = 'idle';
        return;
      }
      const expected = expectedResponse(
        this.settings.scheme,
        this.settings.passwordHash,
        this.nonce,
        auth.cnonce,
      );
      if (responseMatches(expected, auth.response) || this.defects.has('accepts-wrong-password')) {
        if (this.context.platform === 'esp32') {
          this.reply(from, 'OK');
          this.otaAddress = from.address;
        }
        this.state = 'run-update';
        return;
      }
      this.reply(from, 'Authentication Failed');
      this.callbacks.onError(OtaErrorKind.AUTH);
      this.state = 'idle';
    }
  }

  /** ESP8266 answers on the invitation's port, ESP32 on the current packet's (§1.3, §7 pitfall 4). */
  private reply(from: RemoteInfo, text: string): void {
    const port = this.context.platform === 'esp8266' ? this.otaUdpPort : from.port;
    const address = this.context.platform === 'esp8266' ? this.otaAddress || from.address : from.address;
    this.udp.send(text, port, address);
  }

  private async runUpdate(): Promise<void> {
    const invitation = this.invitation;
    if (invitation === undefined || this.busy) return;
    this.busy = true;
    try {
      if (this.context.platform === 'esp8266') await this.runEsp8266Update(invitation);
      else await this.runEsp32Update(invitation);
    } catch (error) {
      // A chip whose flash lost power mid-write just stops: the device core ends this boot.
      if ((error as { code?: unknown }).code !== 'FLASH_POWER_LOST') throw error;
    } finally {
      this.client = undefined;
      this.busy = false;
      this.state = 'idle';
    }
    if (this.context.platform === 'esp32' && !this.context.signal.aborted) void this.pump();
  }

  private async runEsp8266Update(invitation: Invitation): Promise<void> {
    const update = this.esp8266Update;
    if (update === undefined) return;
    const { signal } = this.context;
    if (!update.begin(invitation.size, invitation.command)) {
      this.callbacks.onError(OtaErrorKind.BEGIN);
      this.udp.send(`ERR: ${update.printError()}`, this.otaUdpPort, this.otaAddress);
      await this.delay(this.settings.replyDelayMs);
      return;
    }
    this.udp.send('OK', this.otaUdpPort, this.otaAddress);
    await this.delay(this.settings.replyDelayMs);
    if (!this.defects.has('accepts-bad-md5')) update.setMD5(invitation.md5);
    this.callbacks.onStart(invitation.command);
    this.callbacks.onProgress(0, invitation.size);
    const client = await DeviceTcpClient.connect(this.otaAddress, invitation.port, signal);
    if (signal.aborted) return;
    if (client === undefined) this.callbacks.onError(OtaErrorKind.CONNECT);
    this.client = client;
    // A client that sticks to a vanished uploader is the no-stream-timeout defect on this core.
    const stuck = this.defects.has('no-stream-timeout');
    let total = 0;
    let fed = 0;
    while (
      client !== undefined &&
      !update.isFinished() &&
      (client.connected() || client.available() > 0 || stuck)
    ) {
      if (client.available() === 0) {
        await client.waitForData(ESP8266_POLL_MS, signal);
        if (signal.aborted) return;
        continue;
      }
      const bytes = client.read(Math.min(client.available(), invitation.size - fed));
      if (!this.context.imageBytesArrived(bytes.length)) return;
      fed += bytes.length;
      const written = update.write(bytes);
      await this.context.pace();
      if (signal.aborted) return;
      if (written > 0) {
        client.print(String(written));
        total += written;
        this.callbacks.onProgress(total, invitation.size);
      }
    }
    if (update.end()) {
      await this.delay(this.settings.resultDelayMs);
      client?.print('OK');
      await this.delay(this.settings.resultDelayMs);
      client?.stop();
      this.finishSuccess();
      return;
    }
    this.callbacks.onError(OtaErrorKind.END);
    client?.print(update.printError());
    client?.stop();
    this.afterFailure();
  }

  private async runEsp32Update(invitation: Invitation): Promise<void> {
    const update = this.esp32Update;
    if (update === undefined) return;
    const { signal } = this.context;
    if (!update.begin(invitation.size, invitation.command)) {
      // Begin failures are only logged (log_e); the uploader hears nothing and times out.
      this.callbacks.onError(OtaErrorKind.BEGIN);
      return;
    }
    if (!this.defects.has('accepts-bad-md5')) update.setMD5(invitation.md5);
    this.callbacks.onStart(invitation.command);
    this.callbacks.onProgress(0, invitation.size);
    const client = await DeviceTcpClient.connect(this.otaAddress, invitation.port, signal);
    if (signal.aborted) return;
    if (client === undefined) this.callbacks.onError(OtaErrorKind.CONNECT);
    this.client = client;
    const timeout = this.defects.has('no-stream-timeout')
      ? Number.POSITIVE_INFINITY
      : this.settings.receiveTimeoutMs;
    let written = 0;
    let total = 0;
    let tried = 0;
    while (client !== undefined && !update.isFinished() && client.connected()) {
      if (client.available() === 0) {
        await client.waitForData(timeout, signal);
        if (signal.aborted) return;
      }
      const available = client.available();
      if (available === 0) {
        if (written > 0 && tried++ < ESP32_RECEIVE_RETRIES) {
          if (!client.print(String(written))) break;
          continue;
        }
        this.callbacks.onError(OtaErrorKind.RECEIVE);
        update.abort();
        client.destroy();
        return;
      }
      tried = 0;
      const bytes = client.read(Math.min(available, ESP32_READ_BUFFER));
      if (!this.context.imageBytesArrived(bytes.length)) return;
      written = update.write(bytes);
      await this.context.pace();
      if (signal.aborted) return;
      if (written > 0) {
        client.print(String(written));
        total += written;
        this.callbacks.onProgress(total, invitation.size);
      }
    }
    if (update.end()) {
      client?.print('OK');
      client?.stop();
      await this.delay(10);
      this.finishSuccess();
      return;
    }
    this.callbacks.onError(OtaErrorKind.END);
    client?.print(update.printError());
    client?.stop();
    await this.delay(10);
    this.afterFailure();
  }

  private finishSuccess(): void {
    if (this.context.signal.aborted) return;
    this.callbacks.onEnd();
    // `no-reboot-after-success`: the sketch forgets the restart, so the staged image never runs.
    if (this.settings.rebootOnSuccess && !this.defects.has('no-reboot-after-success'))
      void this.restartAfter(this.settings.restartDelayMs);
  }

  private afterFailure(): void {
    if (this.defects.has('restarts-after-failed-upload'))
      void this.restartAfter(this.settings.restartDelayMs);
  }

  private async restartAfter(milliseconds: number): Promise<void> {
    await this.delay(milliseconds);
    if (!this.context.signal.aborted) this.context.restart();
  }

  private async delay(milliseconds: number): Promise<void> {
    if (milliseconds <= 0 || this.context.signal.aborted) return;
    try {
      await sleep(milliseconds, undefined, { signal: this.context.signal });
    } catch {
      // The boot ended during the delay.
    }
  }

  private micros(): number {
    return Number((process.hrtime.bigint() - this.bootTime) / 1000n);
  }
}
