#!/usr/bin/env node
// The npm registry this project's machines reach does not serve every platform binary of a
// package (Biome's macOS, Windows, Android and musl builds are missing), so `npm install` leaves
// them out of package-lock.json and `npm ci` then refuses the lock as out of sync. This adds the
// missing optional platform packages back as optional entries with their os/cpu/libc, which `npm
// ci` skips on a platform they do not match and installs from any full registry where they do.
// Run after changing dependencies: `npm run lock:complete`.
import { readFileSync, writeFileSync } from 'node:fs';

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
const packages = lock.packages;
let added = 0;

for (const [location, entry] of Object.entries(packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${location ? `${location}/` : ''}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    const platform = platformOf(name);
    if (!platform) continue;
    packages[`node_modules/${name}`] = {
      version,
      ...(platform.cpu ? { cpu: [platform.cpu] } : {}),
      ...(entry.dev ? { dev: true } : {}),
      ...(platform.libc ? { libc: [platform.libc] } : {}),
      optional: true,
      os: [platform.os],
    };
    added++;
  }
}

if (added > 0) {
  lock.packages = Object.fromEntries(
    Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : 1)),
  );
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
}
console.log(`complete-lockfile: added ${added} platform package entr${added === 1 ? 'y' : 'ies'}`);

/** `cli-darwin-arm64`, `cli-linux-x64-musl`, `cli-win32-x64`: platform packages name their target. */
function platformOf(name) {
  const match =
    /-(android|darwin|freebsd|linux|openbsd|sunos|win32)-(arm64|arm|ia32|x64|riscv64|ppc64|s390x|loong64)(-(musl|gnu))?$/.exec(
      name,
    );
  if (!match) return undefined;
  return {
    os: match[1],
    cpu: match[2],
    libc: match[4] === 'musl' ? 'musl' : match[1] === 'linux' ? 'glibc' : undefined,
  };
}
