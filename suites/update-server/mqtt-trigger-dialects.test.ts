import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type StartedBroker, startEmbeddedBroker } from '../../drivers/mqtt/index.ts';
import {
  type StartedReferenceUpdateServer,
  startReferenceUpdateServer,
  type TriggerDialect,
} from '../../drivers/reference-update-server/index.ts';
import { buildEsp32Image } from '../../fixtures/index.ts';
import { runConformance } from '../runner/run-conformance.ts';

/*
 * The mqtt-trigger server suite in the two dialects the default rig's embedded server does not
 * speak (buttons-json there): buttonsMeshIDF HEAD's one-byte U and Homie's image over MQTT, against
 * the reference rollout server reached by URL and broker address like any vendor's.
 */
const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

async function rolloutServer(
  dialect: TriggerDialect,
  topic: string,
  defects: string[] = [],
): Promise<{
  broker: StartedBroker;
  server: StartedReferenceUpdateServer;
  folder: string;
  buildFile: string;
}> {
  const broker = await startEmbeddedBroker();
  stops.push(() => broker.stop());
  const folder = mkdtempSync(join(tmpdir(), `rollout-${dialect}-`));
  writeFileSync(join(folder, '1.0.0.bin'), buildEsp32Image({ size: 16 * 1024, version: '1.0.0', seed: 50 }));
  const buildFile = join(mkdtempSync(join(tmpdir(), 'next-build-')), 'build.img');
  writeFileSync(buildFile, buildEsp32Image({ size: 20 * 1024, version: '2.0.0', seed: 51 }));
  const server = await startReferenceUpdateServer({
    profile: 'mqtt-trigger',
    directory: folder,
    trigger: { brokerUrl: broker.url, dialect, topic },
    defects,
  });
  stops.push(() => server.stop());
  return { broker, server, folder, buildFile };
}

async function judge(name: string, dialect: TriggerDialect, topic: string, defects: string[] = []) {
  const { broker, server, folder, buildFile } = await rolloutServer(dialect, topic, defects);
  const dir = mkdtempSync(join(tmpdir(), 'rollout-rig-'));
  const rig = join(dir, 'rig.json');
  writeFileSync(
    rig,
    JSON.stringify({
      name,
      targets: [
        {
          name,
          kind: 'update-server',
          profile: 'mqtt-trigger',
          url: server.url,
          options: {
            dialect,
            topic,
            brokerUrl: broker.url,
            dropFolder: folder,
            buildFile,
            dropName: '2.{stamp}.bin',
            otaUrl: `${server.url}/firmware.bin`,
          },
        },
      ],
    }),
  );
  const outcome = await runConformance({ rig, outDir: join(dir, 'out'), write: () => {} });
  return Object.fromEntries(outcome.results.map((result) => [result.id, result]));
}

describe('the mqtt-trigger server suite per dialect', () => {
  it('buttons-u: U on /relay/cmd, not retained, and the fixed OTA_URL serves the new build', async () => {
    const results = await judge('buttons-u-server', 'buttons-u', '/relay/cmd');
    expect(Object.values(results).map((result) => `${result.id} ${result.outcome}`)).toEqual([
      'update-server/mqtt-trigger/1 pass',
      'update-server/mqtt-trigger/2 pass',
      'update-server/mqtt-trigger/3 pass',
    ]);
  }, 120_000);

  it('buttons-u: U on /switch/cmd/root (a no-op at HEAD) fails the trigger requirement with Expected/Actual', async () => {
    const results = await judge('buttons-u-root', 'buttons-u', '/switch/cmd/root');
    expect(results['update-server/mqtt-trigger/1']?.outcome).toBe('fail');
    expect(results['update-server/mqtt-trigger/1']?.detail).toMatch(
      /Expected: the buttons-u trigger\n\s+Actual: +topic \/switch\/cmd\/root, not \/switch\|relay\/cmd/,
    );
  }, 120_000);

  it('homie: the image itself on …/$implementation/ota/firmware/<its md5>, not retained', async () => {
    const results = await judge('homie-server', 'homie', 'plug-1');
    expect(Object.values(results).map((result) => `${result.id} ${result.outcome}`)).toEqual([
      'update-server/mqtt-trigger/1 pass',
      'update-server/mqtt-trigger/2 pass',
      'update-server/mqtt-trigger/3 pass',
    ]);
  }, 120_000);

  it('homie with a retained image fails the retain requirement', async () => {
    const results = await judge('homie-retained', 'homie', 'plug-2', ['retained-trigger']);
    expect(results['update-server/mqtt-trigger/2']?.outcome).toBe('fail');
    expect(results['update-server/mqtt-trigger/1']?.outcome).toBe('pass');
  }, 120_000);
});
