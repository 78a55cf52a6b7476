import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A rig file of embedded viperhttp emulators (ESP32, console), one per entry, each with the listed
 * defects, the token from `tokenEnv` (or `tokenDefault`); written to `<dir>/rig.json`.
 */
export function writeViperhttpRig(
  dir: string,
  name: string,
  targets: readonly { name: string; defects?: string[] }[],
  token: { env: string; default?: string },
): string {
  const file = join(dir, 'rig.json');
  writeFileSync(
    file,
    JSON.stringify({
      name,
      targets: targets.map((target) => ({
        name: target.name,
        kind: 'emulator',
        profile: 'viperhttp',
        platform: 'esp32',
        capabilities: ['console'],
        token,
        ...(target.defects ? { emulator: { defects: target.defects } } : {}),
      })),
    }),
  );
  return file;
}
