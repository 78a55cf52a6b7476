import { fileURLToPath } from 'node:url';
import { GenericContainer, getContainerRuntimeClient, type StartedTestContainer, Wait } from 'testcontainers';

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const EMULATOR_IMAGE = 'ota-conformance-emulator:local';
export const MOSQUITTO_IMAGE = 'eclipse-mosquitto:2';

export type RuntimeCheck = { available: true; info: string } | { available: false; reason: string };

/** Whether a container runtime answers here; when none does, the runtime client's own error is the reason. */
export async function checkContainerRuntime(): Promise<RuntimeCheck> {
  try {
    const client = await getContainerRuntimeClient();
    return { available: true, info: `${client.info.containerRuntime.host} (${client.info.node.version})` };
  } catch (error) {
    return { available: false, reason: (error as Error).message };
  }
}

export interface StartedEmulatorContainer {
  /** The firmware's main endpoint (HTTP profiles), mapped to a host port. */
  url: string;
  /** The power control plane. */
  control: string;
  container: StartedTestContainer;
  stop(): Promise<void>;
}

/** Builds the emulator image from drivers/container/Dockerfile (cached by the runtime) and starts one device. */
export async function startEmulatorContainer(options: {
  profile: string;
  defects?: readonly string[];
  options?: Readonly<Record<string, string>>;
}): Promise<StartedEmulatorContainer> {
  const image = await GenericContainer.fromDockerfile(PROJECT_ROOT, 'drivers/container/Dockerfile').build(
    EMULATOR_IMAGE,
    {
      deleteOnExit: false,
    },
  );
  const command = ['--profile', options.profile];
  for (const defect of options.defects ?? []) command.push('--defect', defect);
  for (const [key, value] of Object.entries(options.options ?? {}))
    command.push('--option', `${key}=${value}`);
  const container = await image
    .withCommand(command)
    .withExposedPorts(8080, 8081)
    .withWaitStrategy(Wait.forLogMessage(/"emulator":/))
    .start();
  const host = container.getHost();
  return {
    url: `http://${host}:${container.getMappedPort(8080)}`,
    control: `http://${host}:${container.getMappedPort(8081)}`,
    container,
    stop: async () => {
      await container.stop();
    },
  };
}

/** A Mosquitto broker in a container, for rigs that want a real broker and have a runtime. */
export async function startMosquittoContainer(): Promise<{ url: string; stop(): Promise<void> }> {
  const container = await new GenericContainer(MOSQUITTO_IMAGE)
    .withCopyContentToContainer([
      { content: 'listener 1883\nallow_anonymous true\n', target: '/mosquitto/config/mosquitto.conf' },
    ])
    .withExposedPorts(1883)
    .withWaitStrategy(Wait.forLogMessage(/mosquitto version .* running/))
    .start();
  return {
    url: `mqtt://${container.getHost()}:${container.getMappedPort(1883)}`,
    stop: async () => {
      await container.stop();
    },
  };
}
