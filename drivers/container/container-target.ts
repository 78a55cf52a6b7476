import { GenericContainer, type StartedTestContainer } from 'testcontainers';
import type { ContainerEndpoint, ContainerTarget, Resolved } from '../../rigs/index.ts';
import { describedFields } from '../target/description-fields.ts';
import type { TargetDescription } from '../target/index.ts';
import { checkContainerRuntime } from './container-launcher.ts';

/** The run could not start a container target: a rig error naming the target, image and reason. */
export class ContainerStartError extends Error {
  readonly code = 'TARGET_SETUP';
}

export interface StartedContainerTarget {
  description: TargetDescription;
  stop(): Promise<void>;
}

/** How each endpoint's container port is exposed: espota's invitation is UDP, the rest TCP. */
const PROTOCOL: Record<ContainerEndpoint, 'tcp' | 'udp'> = {
  http: 'tcp',
  https: 'tcp',
  ota: 'udp',
  console: 'tcp',
  control: 'tcp',
};

/**
 * Starts a `container` target's image with testcontainers (its ports mapped to free host ports,
 * its env and command as the rig gives them) and describes it the way a board is described: the
 * suites reach it only through the mapped endpoints. Without a container runtime the runtime
 * client's own error is the reason, as one rig error for the target.
 */
export async function startContainerTarget(
  target: Resolved<ContainerTarget>,
  lockDir: string,
): Promise<StartedContainerTarget> {
  const { image, ports, env, command } = target.container;
  const runtime = await checkContainerRuntime();
  if (!runtime.available) {
    throw new ContainerStartError(
      `target ${target.name}: cannot start container ${image}: no container runtime: ${runtime.reason}`,
    );
  }
  const endpoints = Object.entries(ports) as [ContainerEndpoint, number][];
  let container = new GenericContainer(image).withExposedPorts(
    ...endpoints.map(([name, port]) => `${port}/${PROTOCOL[name]}` as const),
  );
  if (env !== undefined) container = container.withEnvironment(env as Record<string, string>);
  if (command !== undefined) container = container.withCommand(command);
  let started: StartedTestContainer;
  try {
    started = await container.start();
  } catch (error) {
    throw new ContainerStartError(
      `target ${target.name}: cannot start container ${image}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const host = started.getHost();
  const mapped = (name: ContainerEndpoint, port: number) => started.getMappedPort(port, PROTOCOL[name]);
  const description: TargetDescription = {
    ...describedFields(target, 'container'),
    ...(target.url ? { url: target.url } : {}),
    ...(target.updateServer ? { updateServer: target.updateServer } : {}),
    ...(target.mqtt ? { mqtt: target.mqtt } : {}),
    ...(target.options ? { options: target.options } : {}),
    lockDir,
  };
  for (const [name, port] of endpoints) {
    const hostPort = mapped(name, port);
    if (name === 'http' || name === 'https') description.url = `${name}://${host}:${hostPort}`;
    else if (name === 'ota') Object.assign(description, { host, port: hostPort });
    else if (name === 'console')
      description.console = { port: `tcp://${host}:${hostPort}`, baudRate: 115200, reopen: true };
    else description.power = { type: 'emulator-control', url: `http://${host}:${hostPort}` };
  }
  return {
    description,
    stop: async () => {
      await started.stop();
    },
  };
}
