/**
 * SLIP framing as the ESP ROM loader, its stub and the host tools use it
 * (reference/esp-serial-flasher.md §2.1): every frame starts and ends with 0xC0; inside a frame
 * 0xC0 travels as DB DC and 0xDB as DB DD. Sizes and checksums count the unescaped bytes.
 */
export const SLIP_END = 0xc0;
const SLIP_ESC = 0xdb;
const SLIP_ESC_END = 0xdc;
const SLIP_ESC_ESC = 0xdd;

export function slipEncode(packet: Uint8Array): Uint8Array {
  let escapes = 0;
  for (const byte of packet) if (byte === SLIP_END || byte === SLIP_ESC) escapes++;
  const out = new Uint8Array(packet.length + escapes + 2);
  let at = 0;
  out[at++] = SLIP_END;
  for (const byte of packet) {
    if (byte === SLIP_END) {
      out[at++] = SLIP_ESC;
      out[at++] = SLIP_ESC_END;
    } else if (byte === SLIP_ESC) {
      out[at++] = SLIP_ESC;
      out[at++] = SLIP_ESC_ESC;
    } else out[at++] = byte;
  }
  out[at] = SLIP_END;
  return out;
}

/**
 * The longest frame a host sends: an 8-byte command header, the 16-byte FLASH_DATA / MEM_DATA
 * header and a 16 KiB block (esptool's stub FLASH_WRITE_SIZE 0x4000, reference
 * esp-serial-flasher.md), escaped at worst to twice its size; 64 KiB leaves room and bounds what a
 * hostile or broken stream can make the emulator hold.
 */
export const SLIP_MAX_FRAME_BYTES = 64 * 1024;

/**
 * Turns a byte stream into frames. Bytes outside a frame (noise, a boot banner echoed back) are
 * dropped, and back-to-back delimiters (`C0 C0`) open no empty frame, as esp-serial-flasher's
 * reader skips them ([ESF] slip.c L38-41). A bad escape drops the frame it is in, and so does a
 * frame longer than `maxFrameBytes`.
 */
export class SlipDecoder {
  private frame: number[] | undefined;
  private escaping = false;

  constructor(
    private readonly onFrame: (frame: Uint8Array) => void,
    private readonly maxFrameBytes = SLIP_MAX_FRAME_BYTES,
  ) {}

  push(bytes: Uint8Array): void {
    for (const byte of bytes) {
      if (this.frame === undefined) {
        if (byte === SLIP_END) this.frame = [];
        continue;
      }
      if (this.escaping) {
        this.escaping = false;
        if (byte === SLIP_ESC_END) this.frame.push(SLIP_END);
        else if (byte === SLIP_ESC_ESC) this.frame.push(SLIP_ESC);
        else this.frame = undefined;
        continue;
      }
      if (byte === SLIP_ESC) this.escaping = true;
      else if (byte === SLIP_END) {
        if (this.frame.length > 0) {
          const done = Uint8Array.from(this.frame);
          this.frame = undefined;
          this.onFrame(done);
        }
      } else if (this.frame.length < this.maxFrameBytes) this.frame.push(byte);
      else this.frame = undefined;
    }
  }

  reset(): void {
    this.frame = undefined;
    this.escaping = false;
  }
}
