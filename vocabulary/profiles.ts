/** The protocol profiles of DESIGN.md: one emulated firmware each, and what a rig's target speaks. */
export const PROFILES = [
  'viperhttp',
  'viperhttp-doc',
  'arduino-ota',
  'web-update',
  'http-update',
  'esp-https-ota',
  'mqtt-trigger',
  'luartos',
] as const;
export type Profile = (typeof PROFILES)[number];

/** The chips a target runs on. */
export const PLATFORMS = ['esp32', 'esp8266'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** How strongly a requirement binds (RFC 2119), as listed, reported and counted in the exit code. */
export type Level = 'MUST' | 'SHOULD' | 'MAY';
