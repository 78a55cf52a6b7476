import { spawnSync } from 'node:child_process';

/**
 * Why a test of the pseudo-terminal console cannot run here, or undefined when it can. The PTY
 * console is an option (socat makes the PTY); the README's commands need only Node and npm, so
 * every test that needs socat skips with this reason where it is absent.
 */
export const socatMissing: string | undefined =
  spawnSync('socat', ['-V'], { stdio: 'ignore' }).error === undefined
    ? undefined
    : 'socat is not installed: the pseudo-terminal console needs it (apt-get install socat)';
