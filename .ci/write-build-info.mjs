// prepack: records the commit the package is packed from, so an installed harness's --version and
// run.json still name it (reports/harness-identity.ts reads the file when there is no .git).
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const git = (...args) =>
  execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
let info = {};
try {
  info = {
    git: {
      commit: git('rev-parse', 'HEAD'),
      dirty: git('status', '--porcelain', '--untracked-files=no').length > 0,
    },
  };
} catch {
  // Not packed from a git checkout: the version alone identifies the harness.
}
writeFileSync('build-info.json', `${JSON.stringify(info, null, 2)}\n`);
