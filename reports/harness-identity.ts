import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Which harness produced a result: its package name and version, and the commit when known. */
export interface HarnessIdentity {
  name: string;
  version: string;
  git?: { commit: string; dirty: boolean };
}

/**
 * Written into the package by `npm pack` (the `prepack` script, .ci/write-build-info.mjs), so an
 * installed harness still knows the commit it was packed from; a git checkout asks git instead.
 */
export const BUILD_INFO_FILE = 'build-info.json';

export function harnessIdentity(projectRoot: string): HarnessIdentity {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    name: string;
    version: string;
  };
  const git = gitOfCheckout(projectRoot) ?? gitOfBuildInfo(projectRoot);
  return { name: pkg.name, version: pkg.version, ...(git ? { git } : {}) };
}

/** `ota-conformance 0.1.0 (git 1a2b3c4d5e6f, dirty)`, or without the parenthesis when unknown. */
export function formatHarnessIdentity(identity: HarnessIdentity): string {
  if (identity.git === undefined) return `${identity.name} ${identity.version}`;
  const dirty = identity.git.dirty ? ', dirty' : '';
  return `${identity.name} ${identity.version} (git ${identity.git.commit.slice(0, 12)}${dirty})`;
}

/** The commit the harness runs from, when it runs from a git checkout (not from an installed package). */
function gitOfCheckout(projectRoot: string): HarnessIdentity['git'] {
  // Installed under someone's node_modules, `git -C` would answer for their repository instead.
  if (!existsSync(join(projectRoot, '.git'))) return undefined;
  try {
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', projectRoot, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 5000,
      }).trim();
    const commit = git('rev-parse', 'HEAD');
    const dirty = git('status', '--porcelain', '--untracked-files=no').length > 0;
    return { commit, dirty };
  } catch {
    return undefined;
  }
}

function gitOfBuildInfo(projectRoot: string): HarnessIdentity['git'] {
  try {
    const info = JSON.parse(readFileSync(join(projectRoot, BUILD_INFO_FILE), 'utf8')) as {
      git?: { commit?: unknown; dirty?: unknown };
    };
    const commit = info.git?.commit;
    if (typeof commit !== 'string' || !/^[0-9a-f]{7,40}$/.test(commit)) return undefined;
    return { commit, dirty: info.git?.dirty === true };
  } catch {
    return undefined;
  }
}
