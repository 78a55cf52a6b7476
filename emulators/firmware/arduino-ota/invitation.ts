import { UdpPacketReader } from './udp-packet-reader.ts';

/** `"%d %d %d %s\n" % (command, host_tcp_port, image_size, md5_hex)` (reference §1.2). */
export interface Invitation {
  command: number;
  port: number;
  size: number;
  md5: string;
}

/**
 * `_onRx()` in the IDLE state: an unknown command or an MD5 that is not 32 characters after
 * trim() is dropped without a reply (undefined here).
 */
export function parseInvitation(
  datagram: Uint8Array,
  acceptedCommands: readonly number[],
): Invitation | undefined {
  const reader = new UdpPacketReader(datagram);
  const command = reader.parseInt();
  if (!acceptedCommands.includes(command)) return undefined;
  // Both cores keep the number as an int and hand it to `WiFiClient::connect(IPAddress, uint16_t)`,
  // so the device connects back to the low 16 bits: 99999 becomes 34463 ([8266]
  // libraries/ArduinoOTA/ArduinoOTA.h L107 `uint16_t _ota_port`, ArduinoOTA.cpp L184 and L279;
  // ESP32 ArduinoOTA.h `int _ota_port`, `_runUpdate()` `client.connect(_ota_ip, _ota_port)`).
  const port = reader.parseInt() & 0xffff;
  const size = reader.parseInt();
  reader.read();
  const md5 = reader.readStringUntil('\n').trim();
  if (md5.length !== 32) return undefined;
  return { command, port, size, md5 };
}

export interface AuthReply {
  cnonce: string;
  response: string;
}

/** `_onRx()` in WAITAUTH: `200 <cnonce> <response>\n`; anything else sends the device back to IDLE silently. */
export function parseAuthReply(datagram: Uint8Array, hexLength: number): AuthReply | undefined {
  const reader = new UdpPacketReader(datagram);
  if (reader.parseInt() !== 200) return undefined;
  reader.read();
  const cnonce = reader.readStringUntil(' ');
  const response = reader.readStringUntil('\n');
  if (cnonce.length !== hexLength || response.length !== hexLength) return undefined;
  return { cnonce, response };
}
