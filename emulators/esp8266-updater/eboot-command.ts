/**
 * The command the Updater leaves for eboot in RTC user memory (cores/esp8266/eboot_command.h):
 * 32 little-endian words — magic, action, args[29], crc32 — 128 bytes in all.
 */

export const EBOOT_MAGIC = 0xeb001000;
/** eboot accepts any magic whose top 20 bits match (EBOOT_MAGIC_MASK). */
export const EBOOT_MAGIC_MASK = 0xfffff000;
export const ACTION_COPY_RAW = 0x00000001;
export const ACTION_LOAD_APP = 0xffffffff;
export const EBOOT_COMMAND_BYTES = 128;
const ARG_COUNT = 29;
const CRC_OFFSET = 124;

export interface EbootCommand {
  magic: number;
  action: number;
  /** args[0] source, args[1] destination, args[2] size for ACTION_COPY_RAW; 29 words in all. */
  args: readonly number[];
  crc32: number;
}

/**
 * The core's crc32() (cores/esp8266/crc32.cpp, also eboot_command.c): polynomial 0x04C11DB7
 * processed MSB first, no input or output reflection, init 0xFFFFFFFF, no final XOR — the
 * CRC-32/MPEG-2 variant, not zlib's reflected CRC-32.
 */
export function ebootCrc32(data: Uint8Array, initial = 0xffffffff): number {
  let crc = initial >>> 0;
  for (const byte of data) {
    crc ^= byte << 24;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
    }
  }
  return crc >>> 0;
}

/**
 * What eboot_command_write() stores: the magic is forced to EBOOT_MAGIC and the CRC covers the
 * 124 bytes before the crc32 field. Unused args are zero here; on the chip they are whatever the
 * stack held, which the CRC covers either way.
 */
export function encodeEbootCommand(command: { action: number; args: readonly number[] }): Uint8Array {
  if (command.args.length > ARG_COUNT) {
    throw new RangeError(`an eboot command has ${ARG_COUNT} args, got ${command.args.length}`);
  }
  const bytes = new Uint8Array(EBOOT_COMMAND_BYTES);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, EBOOT_MAGIC, true);
  view.setUint32(4, command.action >>> 0, true);
  command.args.forEach((arg, index) => {
    view.setUint32(8 + index * 4, arg >>> 0, true);
  });
  view.setUint32(CRC_OFFSET, ebootCrc32(bytes.subarray(0, CRC_OFFSET)), true);
  return bytes;
}

/** eboot_command_read(): undefined when the magic (under its mask) or the CRC does not match. */
export function decodeEbootCommand(bytes: Uint8Array): EbootCommand | undefined {
  if (bytes.length < EBOOT_COMMAND_BYTES) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, EBOOT_COMMAND_BYTES);
  const magic = view.getUint32(0, true);
  const crc32 = view.getUint32(CRC_OFFSET, true);
  if ((magic & EBOOT_MAGIC_MASK) >>> 0 !== EBOOT_MAGIC) return undefined;
  if (crc32 !== ebootCrc32(bytes.subarray(0, CRC_OFFSET))) return undefined;
  const args: number[] = [];
  for (let index = 0; index < ARG_COUNT; index++) args.push(view.getUint32(8 + index * 4, true));
  return { magic, action: view.getUint32(4, true), args, crc32 };
}
