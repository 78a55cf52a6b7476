import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EmulatorEndpoints, EmulatorOptions } from '../../emulators/index.ts';
import type { Platform, Profile } from '../../vocabulary/index.ts';

/** The host's own launcher: the TypeScript loader and the host loop, not the whole CLI. */
const HOST = fileURLToPath(new URL('../../bin/emulator-host.js', import.meta.url));

/** What the host reports for an emulator it started. */
export interface HostedEmulator {
  name: string;
  profile: Profile;
  platform: Platform;
  endpoints: EmulatorEndpoints;
}

export class EmulatorHostError extends Error {
  readonly code = 'EMULATOR_HOST';
}

interface HostReply {
  id: number;
  ok: boolean;
  result?: HostedEmulator;
  error?: string;
}

/** An emulator whose code threw: a rig error for its own target, with the stack. */
export interface EmulatorCrash {
  name: string;
  error: string;
}

/**
 * The embedded emulators of a run live in one child process, not in the process that runs the
 * suites: the suites reach them only through sockets, PTYs and control planes, as they would a
 * bench, and a device that dies mid-write (a power cut) cannot take the test run down with it.
 * Requests and replies are JSON lines on the child's stdin and stdout.
 */
export class EmulatorHost {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (r: HostReply) => void; reject: (e: Error) => void }
  >();
  private exited: Error | undefined;
  private readonly crashList: EmulatorCrash[] = [];
  private readonly hosted = new Set<string>();
  private stopping = false;
  private stopped: Promise<void> | undefined;

  private constructor(private readonly child: ChildProcess) {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      let reply: HostReply & { event?: string; name?: string };
      try {
        reply = JSON.parse(line) as HostReply & { event?: string; name?: string };
      } catch {
        return;
      }
      if (reply.event === 'crashed' && reply.name !== undefined) {
        this.crashList.push({ name: reply.name, error: reply.error ?? 'no stack' });
        return;
      }
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      waiter.resolve(reply);
    });
    child.on('exit', (code, signal) => {
      this.exited = new EmulatorHostError(`the emulator host exited (code ${code}, signal ${signal})`);
      // Gone mid-run: every emulator it held is lost, each a rig error for its own target.
      if (!this.stopping)
        for (const name of this.hosted) this.crashList.push({ name, error: this.exited.message });
      for (const waiter of this.pending.values()) waiter.reject(this.exited);
      this.pending.clear();
    });
  }

  /**
   * Starts the host when the rig file has an embedded emulator, before the run's own code loads
   * (each side takes a few hundred milliseconds, on a core of its own); undefined for any other
   * rig, or one that cannot be read (the run reports that). The caller stops it.
   */
  static startEarlyFor(rigFile: string): EmulatorHost | undefined {
    try {
      const rig = JSON.parse(readFileSync(rigFile, 'utf8')) as { targets?: { kind?: unknown }[] };
      return rig.targets?.some((target) => target?.kind === 'emulator') ? EmulatorHost.start() : undefined;
    } catch {
      return undefined;
    }
  }

  static start(): EmulatorHost {
    const child = spawn(process.execPath, [HOST], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new EmulatorHost(child);
  }

  /** Starts one emulator in the host; options must be plain data (they cross a pipe). */
  async startEmulator(options: EmulatorOptions): Promise<HostedEmulator> {
    const reply = await this.send({ op: 'start', options });
    if (!reply.ok || !reply.result) {
      throw new EmulatorHostError(
        `emulator ${options.name ?? options.profile}: ${reply.error ?? 'not started'}`,
      );
    }
    this.hosted.add(options.name ?? `${options.profile}-emulator`);
    return reply.result;
  }

  /** The emulators that crashed so far (each was restarted, or lost with the host). */
  get crashes(): readonly EmulatorCrash[] {
    return this.crashList;
  }

  /** Stops every emulator (sockets, consoles, PTYs) and ends the host; a second call waits for the first. */
  stop(): Promise<void> {
    this.stopped ??= this.end();
    return this.stopped;
  }

  private async end(): Promise<void> {
    this.stopping = true;
    if (this.exited) return;
    try {
      await this.send({ op: 'stop' });
    } catch {
      // The host was already gone: nothing left to stop.
    }
    this.child.stdin?.end();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.child.kill('SIGKILL');
          resolve();
        }, 5_000);
        this.child.once('exit', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private send(request: Record<string, unknown>): Promise<HostReply> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.stdin!.write(`${JSON.stringify({ id, ...request })}\n`);
    });
  }
}
