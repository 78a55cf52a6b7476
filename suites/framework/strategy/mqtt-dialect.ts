import type { TargetDescription } from '../../../drivers/target/index.ts';

/** The trigger dialects of the `mqtt-trigger` profile (reference/viperhttp-luartos-mqtt.md §3). */
export const DIALECTS = ['buttons-json', 'buttons-u', 'tasmota', 'homie'] as const;
export type Dialect = (typeof DIALECTS)[number];

/**
 * The dialect a target speaks: `options.dialect` when it names one of ours, else `mqtt.dialect`
 * (the rig's `buttons-mesh` is buttonsMeshIDF HEAD, i.e. `U`).
 */
export function dialectOf(description: TargetDescription): Dialect | undefined {
  const fromOptions = description.options?.dialect;
  if (typeof fromOptions === 'string' && (DIALECTS as readonly string[]).includes(fromOptions)) {
    return fromOptions as Dialect;
  }
  const fromRig = description.mqtt?.dialect;
  if (fromRig === 'buttons-mesh') return 'buttons-u';
  return (DIALECTS as readonly string[]).includes(fromRig ?? '') ? (fromRig as Dialect) : undefined;
}
