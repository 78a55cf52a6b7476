import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { EmulatorOptions, StartedEmulator } from '../../emulators/index.ts';

/**
 * `ota-conformance emulator-host` (internal): runs the embedded emulators of a conformance run in
 * their own process. It reads JSON-line requests on stdin (`start`, `stop`) and answers on stdout.
 */
export function registerEmulatorHostCommand(program: Command): void {
  program
    .command('emulator-host', { hidden: true })
    .description('internal: host the embedded emulators of a run (JSON lines on stdin/stdout)')
    .action(async () => {
      // A chip that loses power mid-operation abandons whatever its firmware was doing; the
      // device core has already ended that boot, so the dangling rejection is not an error.
      const isPowerLoss = (error: unknown) =>
        (error as { code?: unknown } | undefined)?.code === 'FLASH_POWER_LOST';
      process.on('unhandledRejection', (error) => {
        if (!isPowerLoss(error))
          process.stderr.write(`emulator host: unhandled rejection: ${describe(error)}\n`);
      });
      process.on('uncaughtException', (error) => {
        if (!isPowerLoss(error))
          process.stderr.write(`emulator host: uncaught exception: ${describe(error)}\n`);
      });
      const started: StartedEmulator[] = [];
      const stopAll = async () => {
        await Promise.all(started.splice(0).map((emulator) => emulator.stop()));
      };
      const reply = (message: Record<string, unknown>) =>
        process.stdout.write(`${JSON.stringify(message)}\n`);
      const lines = createInterface({ input: process.stdin });
      for await (const line of lines) {
        let request: { id: number; op: string; options?: EmulatorOptions };
        try {
          request = JSON.parse(line);
        } catch {
          continue;
        }
        if (request.op === 'start' && request.options) {
          try {
            const { startEmulator } = await import('../../emulators/index.ts');
            const emulator = await startEmulator(request.options);
            started.push(emulator);
            reply({
              id: request.id,
              ok: true,
              result: {
                name: emulator.name,
                profile: emulator.profile,
                platform: emulator.platform,
                endpoints: emulator.endpoints(),
              },
            });
          } catch (error) {
            reply({ id: request.id, ok: false, error: (error as Error).message });
          }
        } else if (request.op === 'stop') {
          await stopAll();
          reply({ id: request.id, ok: true });
        }
      }
      await stopAll();
      process.exit(0);
    });
}

function describe(error: unknown): string {
  return error instanceof Error ? (error.stack ?? error.message) : String(error);
}
