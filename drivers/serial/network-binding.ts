import { isRfc2217Path, Rfc2217SerialBinding } from './rfc2217-binding.ts';
import { isTcpSerialPath, TcpSerialBinding } from './tcp-serial-binding.ts';

/**
 * The serialport binding for a networked port: raw TCP (`tcp://`, `socket://`: bytes only, no
 * baud or modem lines, as ser2net's raw mode and pyserial's socket:// handler) or RFC 2217
 * (`rfc2217://`: baud and DTR/RTS over Telnet). undefined for a local port.
 */
export function networkBindingFor(
  path: string,
): typeof TcpSerialBinding | typeof Rfc2217SerialBinding | undefined {
  if (isTcpSerialPath(path)) return TcpSerialBinding;
  if (isRfc2217Path(path)) return Rfc2217SerialBinding;
  return undefined;
}
