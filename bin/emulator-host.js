#!/usr/bin/env node
// The embedded emulators' own process (suites/runner/emulator-host.ts spawns it): the TypeScript
// loader and the host loop only, not the whole CLI, so a run's emulators are up sooner.
import module from 'node:module';
import { register } from 'tsx/esm/api';

register();
// After tsx, so installed packages load as they ship (see packages-as-shipped.mjs).
module.register('./packages-as-shipped.mjs', import.meta.url);
const { runEmulatorHost } = await import('./commands/emulator-host.ts');
await runEmulatorHost();
