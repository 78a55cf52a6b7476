import { AsyncLocalStorage } from 'node:async_hooks';

/*
 * Which target the code running now belongs to. A worker runs several targets at once (each in a
 * describe of its own, suites/runner/target-suites.ts): while suite files are collected the entry
 * names each target in turn; while requirements run, each runs inside its target's async context
 * (`runInTarget`), so targets running side by side never see each other's state. A suite file's
 * own hooks run outside it: what they need of the target, the file takes while it is collected
 * (a run loads each suite file once per target). No vitest here:
 * the strategies (and the CLI commands that use them) import this.
 */
let collecting: string | undefined;
const running = new AsyncLocalStorage<string>();

/** The target of the code running now: the requirement's while it runs, else the one being collected. */
export function currentTargetName(): string | undefined {
  return running.getStore() ?? collecting;
}

/** Runs `body` as code of target `name` (and everything it awaits or schedules). */
export function runInTarget<T>(name: string, body: () => T): T {
  return running.run(name, body);
}

/** The entry file collects the suites of `name` next (undefined: collection is over). */
export function collectingTarget(name: string | undefined): void {
  collecting = name;
}
