import { isTcpSerialPath } from '../../../drivers/serial/tcp-serial-binding.ts';
import type { Target } from '../../../drivers/target/index.ts';

/**
 * After a requirement that failed on a board with `"prepare": "flash"`, the board may run
 * anything (a refused image that booted anyway, a bricked cut): the next requirement must not
 * start from there, so the rig's baseline is written again (issue 10). Returns what was done, for
 * the requirement's report; a restore that fails is reported the same way, never thrown, so the
 * requirement's own verdict stands.
 *
 * The flasher opens the console port a second time: fine on a networked serial port (raw TCP
 * serves several clients), impossible on a local tty the console holds locked, which is then
 * left to the next run's `prepare` and said so.
 */
export async function restoreKnownState(target: Target): Promise<string | undefined> {
  const description = target.description;
  if (description.kind !== 'board' || description.prepare !== 'flash') return undefined;
  const port = description.console?.port;
  if (port === undefined) return undefined;
  if (target.console !== undefined && !isTcpSerialPath(port))
    return `not re-flashed: the console holds ${port}; the next run's "prepare": "flash" restores the baseline`;
  try {
    const { flashTarget } = await import('../../../drivers/flasher/index.ts');
    const outcome = await flashTarget(description);
    return `re-flashed the baseline ${outcome.build.version ?? outcome.build.source} after this requirement (${outcome.files.length} files, MD5-verified, read back, booted ${outcome.bootedVersion ?? 'its app'})`;
  } catch (error) {
    return `re-flashing the baseline failed: ${(error as Error).message}`;
  }
}
