import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROFILES } from '../vocabulary/index.ts';
import {
  emulatorOptionsFor,
  findTarget,
  loadRig,
  loadRigSync,
  parseRig,
  RigError,
  redactorForRig,
  resolveSecrets,
} from './index.ts';

const FILE = 'rigs/test.json';

/** A valid one-board rig; each test breaks one thing in it (or leaves it whole, for the acceptance twin). */
function benchRig(overrides: Record<string, unknown> = {}, extraTargets: unknown[] = []): string {
  return JSON.stringify(
    {
      name: 'test',
      targets: [
        { name: 'bench-emulator', kind: 'emulator', profile: 'viperhttp' },
        {
          name: 'bench-esp32',
          kind: 'board',
          profile: 'viperhttp',
          platform: 'esp32',
          capabilities: ['console', 'power-cycle', 'reset'],
          url: 'http://192.168.1.70:8080',
          token: { env: 'BENCH_TOKEN' },
          console: { port: '/dev/ttyUSB0' },
          power: { type: 'shelly-gen2', url: 'http://192.168.1.61', id: 0 },
          ...overrides,
        },
        ...extraTargets,
      ],
    },
    null,
    2,
  );
}

function rigErrorOf(action: () => unknown): RigError {
  try {
    action();
  } catch (error) {
    if (error instanceof RigError) return error;
    throw error;
  }
  throw new Error('expected a RigError, nothing was thrown');
}

describe('shipped rig files', () => {
  it('emulators.json loads and covers every profile on the embedded emulators', async () => {
    const rig = await loadRig('rigs/emulators.json');
    const devices = rig.targets.filter((target) => target.kind === 'emulator');
    expect([...new Set(devices.map((target) => target.profile))].sort()).toEqual([...PROFILES].sort());
    expect(
      rig.targets.filter((target) => target.kind === 'update-server').map((target) => target.profile),
    ).toEqual(['http-update', 'esp-https-ota', 'mqtt-trigger', 'luartos']);
    expect(findTarget(rig, 'esp-https-ota').capabilities).toEqual(
      expect.arrayContaining(['range', 'rollback']),
    );
  });

  it('emulators.json resolves with no environment, and the environment wins when set', async () => {
    const rig = await loadRig('rigs/emulators.json');
    for (const target of rig.targets) expect(() => resolveSecrets(target, {})).not.toThrow();
    const viperhttp = findTarget(rig, 'viperhttp');
    expect(resolveSecrets(viperhttp, {}).target.token).toBe('emulator-ota-token');
    expect(resolveSecrets(viperhttp, { OTA_TOKEN: 'from-the-environment' }).target.token).toBe(
      'from-the-environment',
    );
  });

  it('lab.example.json loads, merges defaults, makes TLS paths absolute, and resolves once its variables are set', () => {
    const rig = loadRigSync('rigs/lab.example.json');
    expect(rig.targets.map((target) => target.name)).toEqual([
      'bench-esp32',
      'bench-esp8266',
      'bench-viperhttp',
    ]);
    const esp32 = findTarget(rig, 'bench-esp32');
    expect(esp32.limits).toEqual({ rebootTimeoutMs: 20000, stepTimeoutMs: 10000, partitionSize: 0x1e0000 });
    expect(esp32.tls?.certFile).toBe(join(process.cwd(), 'rigs/certs/server.pem'));
    const env = {
      TASMOTA_PASSWORD: 'plug-pass',
      ARDUINO_OTA_PASSWORD: 'ota-pass',
      VIPERHTTP_OTA_TOKEN: 'tok-1234',
    };
    for (const target of rig.targets) expect(() => resolveSecrets(target, env)).not.toThrow();
    expect(resolveSecrets(esp32, env).target).toMatchObject({
      power: { type: 'tasmota', password: 'plug-pass' },
    });
  });

  it('a missing file is RIG_NOT_FOUND naming it', async () => {
    const error = await loadRig('rigs/nope.json').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RigError);
    expect((error as RigError).code).toBe('RIG_NOT_FOUND');
    expect((error as RigError).message).toBe('rigs/nope.json: no such file');
  });
});

describe('rig errors name the file, the target and the field', () => {
  it('accepts the whole bench rig (the acceptance twin of every case below)', () => {
    const rig = parseRig(benchRig(), FILE);
    expect(rig.targets[1]).toMatchObject({ name: 'bench-esp32', source: { file: FILE, index: 1 } });
  });

  it('a rig nested 100,000 levels deep is a RIG_JSON error naming the file; 64 levels still parse', () => {
    const nested = (depth: number) => `{"targets": [${'['.repeat(depth)}${']'.repeat(depth)}]}`;
    const error = rigErrorOf(() => parseRig(nested(100_000), FILE));
    expect(error.code).toBe('RIG_JSON');
    expect(error.message).toMatch(/^rigs\/test.json: invalid JSON: nested deeper than 64 levels/);
    // 62 arrays inside targets' own array: the reader accepts it, and the schema then names the field.
    expect(rigErrorOf(() => parseRig(nested(62), FILE)).code).toBe('RIG_INVALID');
  });

  it('a JSON syntax error gives the line and column and no text from the file', () => {
    const broken = benchRig().replace(
      '"url": "http://192.168.1.70:8080",',
      '"url": "http://192.168.1.70:8080"',
    );
    const error = rigErrorOf(() => parseRig(broken, FILE));
    expect(error.code).toBe('RIG_JSON');
    const line = broken.split('\n').findIndex((text) => text.includes('"url"')) + 2;
    expect(error.message).toMatch(
      new RegExp(
        `^rigs/test.json: invalid JSON: expected ',' or '}' after the value of "url", found '"' \\(line ${line}, column \\d+\\)$`,
      ),
    );
    expect(error.message).not.toContain('192.168');
    expect(() => parseRig(benchRig(), FILE)).not.toThrow();
  });

  it('a comment in JSON syntax is refused with a pointer to the "//" key', () => {
    const error = rigErrorOf(() => parseRig(`{\n  // bench\n  "targets": []\n}`, FILE));
    expect(error.message).toContain('line 2, column 3');
    expect(error.message).toContain('"//" key');
  });

  it('an unknown profile names target and field and says what is allowed', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ profile: 'viperhttpx' }), FILE));
    expect(error.code).toBe('RIG_INVALID');
    expect(error.message).toMatch(
      /^rigs\/test\.json: target "bench-esp32" \(targets\[1\]\): profile: "viperhttpx" is not one; expected one of viperhttp, viperhttp-doc, .*luartos \(line \d+, column \d+\)$/,
    );
    expect(parseRig(benchRig({ profile: 'viperhttp-doc' }), FILE).targets[1]!.profile).toBe('viperhttp-doc');
  });

  it('an unknown key is named with its path', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ sessionTimeout: 5 }), FILE));
    expect(error.message).toMatch(
      /^rigs\/test\.json: target "bench-esp32" \(targets\[1\]\): sessionTimeout: unknown key for kind "board"/,
    );
    expect(parseRig(benchRig({ limits: { sessionTimeoutMs: 5 } }), FILE).targets[1]!.limits).toEqual({
      sessionTimeoutMs: 5,
    });
  });

  it('a field of another power type is an unknown key for this type', () => {
    const gen1Field = { type: 'shelly-gen2', url: 'http://192.168.1.61', relay: 0 };
    const error = rigErrorOf(() => parseRig(benchRig({ power: gen1Field }), FILE));
    expect(error.message).toMatch(
      /target "bench-esp32" \(targets\[1\]\): power\.relay: unknown key for power type "shelly-gen2"/,
    );
    const asGen1 = parseRig(benchRig({ power: { ...gen1Field, type: 'shelly-gen1' } }), FILE);
    expect(asGen1.targets[1]).toMatchObject({ power: { type: 'shelly-gen1', relay: 0 } });
  });

  it('an unknown power type lists the known ones', () => {
    const error = rigErrorOf(() =>
      parseRig(benchRig({ power: { type: 'tasmota2', url: 'http://192.168.1.61' } }), FILE),
    );
    expect(error.message).toMatch(
      /power\.type: unknown power type "tasmota2"; expected one of emulator-control, tasmota, shelly-gen1/,
    );
    expect(() =>
      parseRig(benchRig({ power: { type: 'tasmota', url: 'http://192.168.1.61' } }), FILE),
    ).not.toThrow();
  });

  it('a bad URL in a nested field is located', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ power: { type: 'tasmota', url: 'plug-3' } }), FILE));
    expect(error.message).toMatch(
      /^rigs\/test\.json: target "bench-esp32" \(targets\[1\]\): power\.url: expected an http:\/\/ or https:\/\/ URL \(line \d+/,
    );
  });

  it('duplicate target names are refused at the second one, even when another target is broken too', () => {
    const duplicate = { name: 'bench-esp32', kind: 'emulator', profile: 'luartos' };
    const error = rigErrorOf(() => parseRig(benchRig({ profile: 'nope' }, [duplicate]), FILE));
    expect(error.issues).toHaveLength(2);
    expect(error.message).toContain(
      'rigs/test.json: target targets[2]: name: duplicate target name "bench-esp32" (also targets[1])',
    );
    expect(() => parseRig(benchRig({}, [{ ...duplicate, name: 'bench-luartos' }]), FILE)).not.toThrow();
  });

  it('names the target by index when the name is the broken field', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ name: 'Bench ESP32' }), FILE));
    expect(error.message).toMatch(/^rigs\/test\.json: target targets\[1\]: name: expected a kebab-case name/);
  });

  it('reports every problem, one line each, in file order', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ profile: 'x', port: 70000, console: {} }), FILE));
    expect(error.issues.map((issue) => issue.field)).toEqual(['profile', 'port', 'console.port']);
    expect(error.message.split('\n')).toHaveLength(3);
  });

  it('a duplicate JSON key is refused instead of silently keeping the last; "//" may repeat', () => {
    const twice = benchRig().replace('"platform": "esp32",', '"platform": "esp32", "platform": "esp8266",');
    const error = rigErrorOf(() => parseRig(twice, FILE));
    expect(error.message).toMatch(/target targets\[1\]: platform: duplicate key \(first at line \d+\)/);
    const comments = benchRig().replace(
      '"platform": "esp32",',
      '"//": "one", "//": "two", "platform": "esp32",',
    );
    expect(parseRig(comments, FILE).targets[1]).not.toHaveProperty('//');
  });

  it('a "//" comment must be prose', () => {
    const error = rigErrorOf(() => parseRig(benchRig({ '//': { note: 1 } }), FILE));
    expect(error.message).toContain(
      'target "bench-esp32" (targets[1]): ["//"]: a "//" comment takes a string',
    );
    expect(() => parseRig(benchRig({ '//': ['line one', 'line two'] }), FILE)).not.toThrow();
  });

  it('a claimed capability needs the means to exercise it', () => {
    const { console: _console, ...withoutConsole } = JSON.parse(benchRig()).targets[1];
    const text = JSON.stringify({ targets: [withoutConsole] });
    const error = rigErrorOf(() => parseRig(text, FILE));
    expect(error.message).toContain(
      'target "bench-esp32" (targets[0]): capabilities[0]: "console" needs a "console"',
    );
    const noClaim = JSON.stringify({ targets: [{ ...withoutConsole, capabilities: ['power-cycle'] }] });
    expect(() => parseRig(noClaim, FILE)).not.toThrow();
  });

  it('rollback is refused on an ESP8266 and accepted on an ESP32', () => {
    const esp8266 = {
      name: 'e',
      kind: 'emulator',
      profile: 'http-update',
      platform: 'esp8266',
      capabilities: ['rollback'],
    };
    const error = rigErrorOf(() => parseRig(JSON.stringify({ targets: [esp8266] }), FILE));
    expect(error.message).toContain(
      'target "e" (targets[0]): capabilities[0]: "rollback" is an ESP32 bootloader feature',
    );
    expect(() =>
      parseRig(JSON.stringify({ targets: [{ ...esp8266, platform: 'esp32' }] }), FILE),
    ).not.toThrow();
  });

  it('a default secret is allowed on an emulator and refused on a board', () => {
    const withDefault = { env: 'BENCH_TOKEN', default: 'not-for-boards' };
    const error = rigErrorOf(() => parseRig(benchRig({ token: withDefault }), FILE));
    expect(error.message).toContain(
      'target "bench-esp32" (targets[1]): token.default: a default secret is only allowed on emulator targets',
    );
    expect(error.message).not.toContain('not-for-boards');
    const emulator = { name: 'emu', kind: 'emulator', profile: 'viperhttp', token: withDefault };
    expect(() => parseRig(JSON.stringify({ targets: [emulator] }), FILE)).not.toThrow();
  });

  it('an inline secret is refused on a board (every secret field, nested too) and allowed on an emulator', () => {
    const literal = 'inline-board-secret';
    const error = rigErrorOf(() =>
      parseRig(
        benchRig({
          token: literal,
          power: { type: 'tasmota', url: 'http://192.168.1.61', password: literal },
        }),
        FILE,
      ),
    );
    expect(error.message).toContain(
      `target "bench-esp32" (targets[1]): token: a board's secret comes from the environment: write { "env": "NAME" } instead of the value`,
    );
    expect(error.message).toContain(`target "bench-esp32" (targets[1]): power.password: a board's secret`);
    expect(error.message).not.toContain(literal);
    const server = { name: 'srv', kind: 'update-server', profile: 'luartos', url: 'https://10.0.0.5' };
    expect(
      rigErrorOf(() => parseRig(JSON.stringify({ targets: [{ ...server, token: literal }] }), FILE)).message,
    ).toContain(`target "srv" (targets[0]): token: an update-server's secret comes from the environment`);
    // The acceptance twins: the same fields from the environment, and a literal on an emulator.
    expect(() =>
      parseRig(
        benchRig({ power: { type: 'tasmota', url: 'http://192.168.1.61', password: { env: 'PLUG_PASS' } } }),
        FILE,
      ),
    ).not.toThrow();
    const emulator = { name: 'emu', kind: 'emulator', profile: 'viperhttp', token: literal };
    expect(() => parseRig(JSON.stringify({ targets: [emulator] }), FILE)).not.toThrow();
  });

  it('defects are allowed on the embedded reference update server and refused on a server under test', () => {
    const server = { name: 'srv', kind: 'update-server', profile: 'luartos', defects: ['never-471'] };
    const error = rigErrorOf(() =>
      parseRig(JSON.stringify({ targets: [{ ...server, url: 'https://10.0.0.5' }] }), FILE),
    );
    expect(error.message).toContain(
      'target "srv" (targets[0]): defects: only the embedded reference server ("embedded": true) can be started with defects',
    );
    const embedded = parseRig(JSON.stringify({ targets: [{ ...server, embedded: true }] }), FILE);
    expect(embedded.targets[0]).toMatchObject({ defects: ['never-471'] });
  });
});

describe('secrets', () => {
  it('a missing variable names the variable, the target and the field, all at once', () => {
    const rig = parseRig(
      benchRig({ power: { type: 'tasmota', url: 'http://192.168.1.61', password: { env: 'PLUG_PASS' } } }),
      FILE,
    );
    const error = rigErrorOf(() => resolveSecrets(rig.targets[1]!, { PLUG_PASS: '' }));
    expect(error.code).toBe('RIG_SECRET_MISSING');
    expect(error.message).toBe(
      [
        'rigs/test.json: target "bench-esp32" (targets[1]): token: environment variable BENCH_TOKEN is not set',
        'rigs/test.json: target "bench-esp32" (targets[1]): power.password: environment variable PLUG_PASS is empty',
      ].join('\n'),
    );
    const resolved = resolveSecrets(rig.targets[1]!, {
      BENCH_TOKEN: 'bench-token-1',
      PLUG_PASS: 'plug-pass-2',
    });
    expect(resolved.target).toMatchObject({ token: 'bench-token-1', power: { password: 'plug-pass-2' } });
    expect(resolved.redactor.redact('X-OTA-Token: bench-token-1')).toBe('X-OTA-Token: ***');
  });

  it('checkSecrets fails at load time; without it a lab rig loads with no environment', () => {
    expect(() => parseRig(benchRig(), FILE, { checkSecrets: true, env: {} })).toThrow(
      /BENCH_TOKEN is not set/,
    );
    expect(() =>
      parseRig(benchRig(), FILE, { checkSecrets: true, env: { BENCH_TOKEN: 'abcd' } }),
    ).not.toThrow();
  });

  it('no secret value appears in any RigError message', () => {
    const secret = 'hunter2-literal-token';
    const envSecret = 'environment-secret-value';
    const cases: (() => unknown)[] = [
      // A secret pasted into the wrong field is quoted by no message.
      () => parseRig(benchRig({ token: secret, profile: secret }), FILE),
      () => parseRig(benchRig({ token: secret, limits: { sessionTimeoutMs: secret } }), FILE),
      () =>
        parseRig(
          benchRig({ token: secret, power: { type: 'tasmota', url: secret, password: secret } }),
          FILE,
        ),
      () => parseRig(benchRig({ token: { env: 'X', default: secret } }), FILE),
      () => parseRig(benchRig({ token: secret }).replace(`"${secret}"`, `"${secret}`), FILE),
      () =>
        resolveSecrets(parseRig(benchRig({ password: { env: 'MISSING' } }), FILE).targets[1]!, {
          BENCH_TOKEN: envSecret,
        }),
    ];
    for (const action of cases) {
      const error = rigErrorOf(action);
      expect(error.message).not.toContain(secret);
      expect(error.message).not.toContain(envSecret);
      expect(JSON.stringify(error.issues)).not.toContain(secret);
    }
  });

  it('redactorForRig hides every resolvable secret of the rig, Basic-auth pairs included', () => {
    const rig = parseRig(
      benchRig({ username: 'admin', password: { env: 'WEB_PASS' } }, [
        {
          name: 'emu',
          kind: 'emulator',
          profile: 'viperhttp',
          token: { env: 'OTA_TOKEN', default: 'emu-default-token' },
        },
      ]),
      FILE,
    );
    const redactor = redactorForRig(rig, { BENCH_TOKEN: 'bench-token-1', WEB_PASS: 'pw' });
    const basic = Buffer.from('admin:pw').toString('base64');
    expect(redactor.redact(`bench-token-1 emu-default-token Authorization: Basic ${basic}`)).toBe(
      '*** *** Authorization: Basic ***',
    );
  });

  it('emulatorOptionsFor gives the emulator the secrets and limits the drivers will use', async () => {
    const rig = await loadRig('rigs/emulators.json');
    const target = resolveSecrets(findTarget(rig, 'viperhttp'), {}).target;
    if (target.kind !== 'emulator') throw new Error('viperhttp is an emulator target');
    expect(emulatorOptionsFor(target)).toMatchObject({
      profile: 'viperhttp',
      name: 'viperhttp',
      platform: 'esp32',
      options: { token: 'emulator-ota-token', sessionTimeoutMs: 30000 },
      timing: 'none',
      console: 'tcp',
      seed: 1,
    });
  });

  it('loads from disk relative to the rig file', () => {
    const directory = mkdtempSync(join(tmpdir(), 'rig-'));
    const file = join(directory, 'lab.json');
    writeFileSync(file, benchRig({ tls: { caFile: 'ca.pem' } }));
    expect(loadRigSync(file).targets[1]!.tls?.caFile).toBe(join(directory, 'ca.pem'));
  });
});
