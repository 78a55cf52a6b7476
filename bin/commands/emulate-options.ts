import type { Profile } from '../../vocabulary/index.ts';

/** Options every firmware takes from a rig entry (emulatorOptionsFor: credentials and limits). */
const RIG_KEYS = [
  'token',
  'password',
  'username',
  'signing',
  'sessionTimeoutMs',
  'partitionSize',
  'stepTimeoutMs',
  'rebootTimeoutMs',
  'updateTimeoutMs',
] as const;

/** Options a firmware reads without a default (read from its code: emulators/firmware/<profile>/). */
const WITHOUT_DEFAULT: Partial<Record<Profile, readonly string[]>> = {
  'arduino-ota': ['passwordHash', 'hostname'],
  'http-update': ['staMac', 'apMac', 'sdkVersion', 'chipId', 'fingerprint', 'ca', 'credentials'],
  'mqtt-trigger': ['deviceId'],
};

export class EmulateOptionError extends Error {
  readonly code = 'EMULATE_USAGE';
}

export interface FirmwareDefaults {
  profile: Profile;
  defaults: Readonly<Record<string, unknown>>;
}

/** Every option key a profile's firmware accepts. */
export function knownOptionKeys({ profile, defaults }: FirmwareDefaults): string[] {
  return [...new Set([...Object.keys(defaults), ...RIG_KEYS, ...(WITHOUT_DEFAULT[profile] ?? [])])].sort();
}

/**
 * Refuses an option the firmware does not read: a misspelt `pasword` would otherwise start a
 * device without a password and every auth requirement would test the wrong thing.
 */
export function checkOptionKeys(firmware: FirmwareDefaults, keys: Iterable<string>): void {
  const known = knownOptionKeys(firmware);
  for (const key of keys) {
    if (known.includes(key)) continue;
    const near = known.filter((candidate) => editDistance(candidate.toLowerCase(), key.toLowerCase()) <= 2);
    throw new EmulateOptionError(
      `--option ${key}: the ${firmware.profile} firmware has no option '${key}'${near.length > 0 ? ` (did you mean ${near.map((name) => `'${name}'`).join(' or ')}?)` : ''}; its options: ${known.join(', ')}`,
    );
  }
}

/** Levenshtein distance, for the "did you mean" of a misspelt key. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j]! + 1,
        current[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The options section of `emulate --help`: each profile's options with the firmware's defaults,
 * and, where the default rig (rigs/emulators.json) starts the same firmware differently, its value.
 */
export function optionsHelp(
  firmwares: readonly FirmwareDefaults[],
  defaultRig: ReadonlyMap<Profile, Readonly<Record<string, unknown>>>,
): string {
  const lines = [
    '',
    'Firmware options (--option key=value), with the firmware defaults `emulate` uses; where the',
    'default rig (rigs/emulators.json) starts that firmware differently, its value follows "rig:".',
    '`emulate` also differs from a run in: no --seed (a run passes seed 1).',
  ];
  for (const firmware of firmwares) {
    lines.push('', `  ${firmware.profile}:`);
    const rig = defaultRig.get(firmware.profile) ?? {};
    for (const key of knownOptionKeys(firmware)) {
      const value = firmware.defaults[key];
      const shown = value === undefined ? '(none)' : JSON.stringify(value);
      const rigValue = rig[key];
      const differs = rigValue !== undefined && JSON.stringify(rigValue) !== JSON.stringify(value);
      lines.push(
        `    ${key}=${shown.length > 60 ? `${shown.slice(0, 57)}...` : shown}${differs ? `   rig: ${JSON.stringify(rigValue)}` : ''}`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}
