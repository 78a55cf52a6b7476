import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ScannedSecret,
  type SecretHit,
  scanText,
  scanTree,
  secretForms,
} from '../../rigs/secret-forms.test-support.ts';
import { CLI, type ProcessResult, runCli, runProcess } from '../cli-process.test-support.ts';

/*
 * No secret in any output (issue 9): every secret of the default rig and of a board rig gets a
 * distinctive value (with characters that URL-encoding changes), the CLI runs for real, and the
 * terminal output, every file under the output folder and the Allure HTML generated from it are
 * scanned for each secret in every form it can take on the wire. Zero hits.
 */

const ALLURE = fileURLToPath(new URL('../../node_modules/allure/cli.js', import.meta.url));

/** `npx allure generate` over the run's results: the HTML a lab hands to a customer. */
async function generateAllureHtml(resultsDir: string, reportDir: string): Promise<void> {
  const result = await runProcess(process.execPath, [ALLURE, 'generate', resultsDir, '--output', reportDir]);
  if (result.code !== 0) throw new Error(`allure generate exited ${result.code}: ${result.stderr}`);
}

/** Scans terminal output, the output folder and the generated Allure HTML. */
async function scanRun(run: ProcessResult, outDir: string, secrets: readonly ScannedSecret[]) {
  const reportDir = join(outDir, '..', 'allure-report');
  await generateAllureHtml(join(outDir, 'latest', 'allure-results'), reportDir);
  const output = scanTree(outDir, secrets);
  const html = scanTree(reportDir, secrets);
  const hits: SecretHit[] = [
    ...scanText(run.stdout, 'stdout', secrets),
    ...scanText(run.stderr, 'stderr', secrets),
    ...output.hits,
    ...html.hits,
  ];
  return { hits, outputFiles: output.files, htmlFiles: html.files };
}

const started: ChildProcess[] = [];
afterAll(async () => {
  await Promise.all(
    started.map(async (child) => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await once(child, 'exit');
    }),
  );
});

interface EmulatedBoard {
  control: string;
  console: string;
  services: Record<string, { host: string; port: number }>;
}

/** A device in its own `ota-conformance emulate` process, reached by the board rig as a bench board. */
async function emulateBoard(args: string[], env: NodeJS.ProcessEnv): Promise<EmulatedBoard> {
  const child = spawn(process.execPath, [CLI, 'emulate', '--console', 'tcp', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  started.push(child);
  const lines = createInterface({ input: child.stdout! });
  const [first] = (await once(lines, 'line')) as [string];
  return (JSON.parse(first) as { emulator: EmulatedBoard }).emulator;
}

describe('the secret scan (forms the scan looks for)', () => {
  it('finds a secret in each of its forms, and nothing in text without it', () => {
    const secret: ScannedSecret = { name: 'password', value: 'Pw4&ard uino/Q81', usernames: ['admin'] };
    const forms = secretForms(secret);
    for (const [text, form] of forms) {
      expect(scanText(`before ${text} after`, 'text', [secret]).map((hit) => hit.form)).toContain(form);
    }
    const insideBasic = Buffer.from(`some-user:${secret.value}`).toString('base64');
    expect(scanText(`Authorization: Basic ${insideBasic}`, 'text', [secret])).not.toEqual([]);
    expect(scanText('password=*** Authorization: Basic ***', 'text', [secret])).toEqual([]);
    expect([...forms.values()]).toEqual(
      expect.arrayContaining([
        'plain',
        'url-encoded',
        'base64',
        'basic auth (admin)',
        'hex',
        'md5',
        'sha256',
      ]),
    );
  });
});

describe('ota-conformance run leaves no secret in any output', () => {
  it('on the default rig: terminal, output folder and Allure HTML', async () => {
    const env = {
      OTA_TOKEN: 'Zq7tok&en+93/viper',
      OTA_PASSWORD: 'Pw4ard uino:Q81',
      OTA_WEB_PASSWORD: 'Wb2web%pass/R55',
    };
    const secrets: ScannedSecret[] = [
      { name: 'OTA_TOKEN', value: env.OTA_TOKEN },
      { name: 'OTA_PASSWORD', value: env.OTA_PASSWORD },
      { name: 'OTA_WEB_PASSWORD', value: env.OTA_WEB_PASSWORD, usernames: ['admin'] },
    ];
    const root = mkdtempSync(join(tmpdir(), 'secret-scan-default-'));
    const outDir = join(root, 'out');
    const run = await runCli(['run', '--out', outDir], env);
    // The secrets were really used: the devices accepted the harness only with them.
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/viperhttp\s+\d+\s+0\s/);
    const { hits, outputFiles, htmlFiles } = await scanRun(run, outDir, secrets);
    expect(outputFiles).toBeGreaterThan(50);
    expect(htmlFiles).toBeGreaterThan(50);
    expect(hits).toEqual([]);
  }, 240_000);

  it('on a board rig: token, passwords, Tasmota and Shelly credentials, ArduinoOTA password', async () => {
    const env = {
      SCAN_VIPER_TOKEN: 'Vt9&tok+en/board',
      SCAN_WEB_PASSWORD: 'Wp3 web:pass%board',
      SCAN_ARDUINO_PASSWORD: 'Ap5ardu/ino&board',
      SCAN_TASMOTA_PASSWORD: 'Tp7tas mota+plug',
      SCAN_SHELLY1_PASSWORD: 'S1p&shel/ly-gen1',
      SCAN_SHELLY2_PASSWORD: 'S2p%shel ly-gen2',
    };
    const secrets: ScannedSecret[] = [
      { name: 'token', value: env.SCAN_VIPER_TOKEN },
      { name: 'web-update password', value: env.SCAN_WEB_PASSWORD, usernames: ['webadmin'] },
      { name: 'ArduinoOTA password', value: env.SCAN_ARDUINO_PASSWORD },
      { name: 'Tasmota password', value: env.SCAN_TASMOTA_PASSWORD, usernames: ['tasmota-user'] },
      { name: 'Shelly Gen1 password', value: env.SCAN_SHELLY1_PASSWORD, usernames: ['shelly-user'] },
      { name: 'Shelly Gen2 password', value: env.SCAN_SHELLY2_PASSWORD, usernames: ['admin'] },
    ];
    const [viper, web, espota] = await Promise.all([
      emulateBoard(
        [
          '--profile',
          'viperhttp',
          '--option-env',
          'token=SCAN_VIPER_TOKEN',
          '--control-token-env',
          'SCAN_TASMOTA_PASSWORD',
        ],
        env,
      ),
      emulateBoard(
        [
          '--profile',
          'web-update',
          '--platform',
          'esp8266',
          '--option',
          'username=webadmin',
          '--option-env',
          'password=SCAN_WEB_PASSWORD',
          '--control-token-env',
          'SCAN_SHELLY1_PASSWORD',
        ],
        env,
      ),
      emulateBoard(
        [
          '--profile',
          'arduino-ota',
          '--platform',
          'esp8266',
          '--option',
          'resultDelayMs=100',
          '--option-env',
          'password=SCAN_ARDUINO_PASSWORD',
          '--control-token-env',
          'SCAN_SHELLY2_PASSWORD',
        ],
        env,
      ),
    ]);
    const boardCapabilities = ['console', 'power-cycle', 'reset'];
    const rig = {
      name: 'secret-scan-bench',
      targets: [
        {
          name: 'bench-viperhttp',
          kind: 'board',
          profile: 'viperhttp',
          platform: 'esp32',
          capabilities: boardCapabilities,
          url: `http://${viper.services.http!.host}:${viper.services.http!.port}`,
          token: { env: 'SCAN_VIPER_TOKEN' },
          console: { port: viper.console },
          power: {
            type: 'tasmota',
            url: viper.control,
            user: 'tasmota-user',
            password: { env: 'SCAN_TASMOTA_PASSWORD' },
          },
        },
        {
          name: 'bench-web-update',
          kind: 'board',
          profile: 'web-update',
          platform: 'esp8266',
          capabilities: boardCapabilities,
          url: `http://${web.services.http!.host}:${web.services.http!.port}`,
          username: 'webadmin',
          password: { env: 'SCAN_WEB_PASSWORD' },
          console: { port: web.console },
          power: {
            type: 'shelly-gen1',
            url: web.control,
            user: 'shelly-user',
            password: { env: 'SCAN_SHELLY1_PASSWORD' },
          },
        },
        {
          name: 'bench-arduino-ota',
          kind: 'board',
          profile: 'arduino-ota',
          platform: 'esp8266',
          capabilities: boardCapabilities,
          host: espota.services.ota!.host,
          port: espota.services.ota!.port,
          password: { env: 'SCAN_ARDUINO_PASSWORD' },
          console: { port: espota.console },
          power: { type: 'shelly-gen2', url: espota.control, password: { env: 'SCAN_SHELLY2_PASSWORD' } },
        },
      ],
    };
    const root = mkdtempSync(join(tmpdir(), 'secret-scan-board-'));
    const rigFile = join(root, 'bench.json');
    writeFileSync(rigFile, JSON.stringify(rig));
    const outDir = join(root, 'out');
    const run = await runCli(['run', '--rig', rigFile, '--out', outDir], env);
    // Every board ran requirements with its secrets: each target passed some.
    for (const name of ['bench-viperhttp', 'bench-web-update', 'bench-arduino-ota']) {
      expect(run.stdout, run.stdout + run.stderr).toMatch(new RegExp(`${name}\\s+[1-9]\\d*\\s`));
    }
    const { hits, outputFiles, htmlFiles } = await scanRun(run, outDir, secrets);
    expect(outputFiles).toBeGreaterThan(20);
    expect(htmlFiles).toBeGreaterThan(20);
    expect(hits).toEqual([]);
  }, 240_000);
});
