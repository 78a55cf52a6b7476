#!/usr/bin/env node
// The embedded emulators' own process (suites/runner/emulator-host.ts spawns it): the TypeScript
// loader and the host loop only, not the whole CLI, so a run's emulators are up sooner.
import './loaders.mjs';

const { runEmulatorHost } = await import('./commands/emulator-host.ts');
await runEmulatorHost();
