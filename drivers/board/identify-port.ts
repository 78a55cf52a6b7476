import { realpath } from 'node:fs/promises';
import type { BoardTarget, Resolved } from '../../rigs/index.ts';

/** One entry of serialport's port list (`SerialPort.list()`, or a binding's `list()`). */
export interface PortListing {
  path: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  locationId?: string;
  manufacturer?: string;
}

export type ListPorts = () => Promise<PortListing[]>;

/** The board the rig names is not on this machine, or another board sits at its port. */
export class BoardIdentityError extends Error {
  readonly code = 'TARGET_SETUP';
}

const listPlatformPorts: ListPorts = async () => {
  const { SerialPort } = await import('serialport');
  return SerialPort.list();
};

const describePort = (port: PortListing): string => {
  const details = [
    port.serialNumber ? `serial ${port.serialNumber}` : undefined,
    port.vendorId && port.productId ? `${port.vendorId}:${port.productId}`.toLowerCase() : undefined,
    port.locationId ? `location ${port.locationId}` : undefined,
    port.manufacturer,
  ].filter(Boolean);
  return details.length > 0 ? `${port.path} (${details.join(', ')})` : port.path;
};

const present = (ports: readonly PortListing[]): string =>
  ports.length === 0 ? 'no serial ports are present' : `ports present: ${ports.map(describePort).join('; ')}`;

/**
 * Finds a board's console by its identity in serialport's port list, so the harness never talks
 * to (or flashes, or power-cycles) the wrong board: `console.port: "auto"` becomes the one port
 * whose USB serial number / VID:PID / location the rig names (and so do `reset` and `power`
 * ports written `auto`); an explicit port is checked against the identity. Anything else is an
 * error that lists the ports present.
 */
export async function resolveBoardPort(
  target: Resolved<BoardTarget>,
  listPorts: ListPorts = listPlatformPorts,
): Promise<Resolved<BoardTarget>> {
  const identity = target.identity ?? {};
  const wanted = {
    serialNumber: identity.usbSerialNumber,
    vidPid: identity.usbVidPid?.toLowerCase(),
    location: identity.usbLocation,
  };
  const named = Object.entries(wanted).filter(([, value]) => value !== undefined);
  const console = target.console;
  if (named.length === 0 || console === undefined) return target;
  const fields = [
    wanted.serialNumber === undefined ? undefined : `usbSerialNumber ${wanted.serialNumber}`,
    wanted.vidPid === undefined ? undefined : `usbVidPid ${wanted.vidPid}`,
    wanted.location === undefined ? undefined : `usbLocation ${wanted.location}`,
  ]
    .filter(Boolean)
    .join(', ');
  if (console.port.includes('://')) {
    throw new BoardIdentityError(
      `target ${target.name}: identity (${fields}) names a USB board, but console.port ${console.port} is a network console; the harness cannot check it`,
    );
  }
  const ports = await listPorts();
  if (wanted.location !== undefined && !ports.some((port) => port.locationId !== undefined)) {
    throw new BoardIdentityError(
      `target ${target.name}: identity.usbLocation: this platform's serial port list gives no USB location; name the board by usbSerialNumber or usbVidPid (${present(ports)})`,
    );
  }
  const matches = (port: PortListing) =>
    (wanted.serialNumber === undefined || port.serialNumber === wanted.serialNumber) &&
    (wanted.vidPid === undefined || `${port.vendorId}:${port.productId}`.toLowerCase() === wanted.vidPid) &&
    (wanted.location === undefined || port.locationId === wanted.location);

  if (console.port !== 'auto') {
    const path = await realpath(console.port).catch(() => console.port);
    const listed = ports.find((port) => port.path === console.port || port.path === path);
    if (listed === undefined) {
      throw new BoardIdentityError(
        `target ${target.name}: console.port ${console.port} is not in the serial port list, so identity (${fields}) cannot be checked; ${present(ports)}`,
      );
    }
    if (!matches(listed)) {
      throw new BoardIdentityError(
        `target ${target.name}: console.port ${console.port} is ${describePort(listed)}, not the board identity names (${fields})`,
      );
    }
    return target;
  }
  const found = ports.filter(matches);
  if (found.length !== 1) {
    throw new BoardIdentityError(
      found.length === 0
        ? `target ${target.name}: no serial port has identity ${fields}; ${present(ports)}`
        : `target ${target.name}: ${found.length} serial ports match identity ${fields} (${found.map(describePort).join('; ')}); name the board more precisely`,
    );
  }
  const path = found[0]!.path;
  const auto = <T extends { port: string } | undefined>(lines: T): T =>
    lines !== undefined && lines.port === 'auto' ? { ...lines, port: path } : lines;
  return {
    ...target,
    console: { ...console, port: path },
    ...(target.reset?.type === 'dtr-rts' ? { reset: auto(target.reset) } : {}),
    ...(target.power?.type === 'dtr-rts' ? { power: auto(target.power) } : {}),
  };
}
