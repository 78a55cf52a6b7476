import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { EmulatorOptions, StartedEmulator } from '../../emulators/index.ts';
import { EmulatorSupervisor } from '../../suites/runner/emulator-supervisor.ts';

/**
 * `ota-conformance emulator-host` (internal): runs the embedded emulators of a conformance run in
 * their own process (a run starts it through bin/emulator-host.js, which loads less).
 */
export function registerEmulatorHostCommand(program: Command): void {
  program
    .command('emulator-host', { hidden: true })
    .description('internal: host the embedded emulators of a run (JSON lines on stdin/stdout)')
    .action(runEmulatorHost);
}

/**
 * The host loop: JSON-line requests on stdin (`start`, `stop`), answers on stdout. Emulators start
 * side by side (each mostly waits on its sockets and its boot), and their code loads while the run
 * sends the first request.
 */
export async function runEmulatorHost(): Promise<void> {
  const loading = import('../../emulators/index.ts');
  loading.catch(() => {});
  const started: StartedEmulator[] = [];
  const starting = new Set<Promise<void>>();
  // An emulator whose code throws is reported with its stack (a rig error for that target
  // alone) and restarted; the other emulators in this process never notice.
  const supervisor = new EmulatorSupervisor(
    (name, stack) => reply({ event: 'crashed', name, error: stack }),
    (stack) => process.stderr.write(`emulator host: uncaught outside any firmware: ${stack}\n`),
  );
  const stopAll = async () => {
    await Promise.allSettled([...starting]);
    for (const emulator of started) supervisor.forget(emulator.name);
    await Promise.all(started.splice(0).map((emulator) => emulator.stop()));
  };
  const reply = (message: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const start = async (id: number, options: EmulatorOptions) => {
    try {
      const { startEmulator } = await loading;
      const emulator = await startEmulator(options);
      started.push(emulator);
      supervisor.watch({
        name: emulator.name,
        firmware: emulator.profile,
        restart: () => emulator.device.restart(),
      });
      reply({
        id,
        ok: true,
        result: {
          name: emulator.name,
          profile: emulator.profile,
          platform: emulator.platform,
          endpoints: emulator.endpoints(),
        },
      });
    } catch (error) {
      reply({ id, ok: false, error: (error as Error).message });
    }
  };
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    let request: { id: number; op: string; options?: EmulatorOptions };
    try {
      request = JSON.parse(line);
    } catch {
      continue;
    }
    if (request.op === 'start' && request.options) {
      const task = start(request.id, request.options);
      starting.add(task);
      void task.finally(() => starting.delete(task));
    } else if (request.op === 'stop') {
      await stopAll();
      reply({ id: request.id, ok: true });
    }
  }
  await stopAll();
  process.exit(0);
}
