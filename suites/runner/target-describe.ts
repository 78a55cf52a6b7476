/*
 * How a run's reports tell which target a test ran against: each target's suites run under a
 * describe named after it (target-suites.ts), several targets to an entry file.
 */
const TARGET_PREFIX = 'target ';

/** The describe a target's suites run under: how reports tell which target a test ran against. */
export function targetDescribeName(target: string): string {
  return `${TARGET_PREFIX}${target}`;
}

/** The target of a describe named by targetDescribeName, else undefined. */
export function targetOfDescribe(name: string): string | undefined {
  return name.startsWith(TARGET_PREFIX) ? name.slice(TARGET_PREFIX.length) : undefined;
}
