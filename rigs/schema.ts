import { z } from 'zod';
import { PLATFORMS, type Platform, PROFILES, type Profile } from '../vocabulary/index.ts';

/*
 * The rig schema: *where* each target is and how to reach, power and watch it (labgrid's
 * resources). How to use those is drivers/' business; which state a suite needs is a strategy's.
 *
 * Every object is strict: an unknown key is an error that names it, because a misspelt
 * `sessionTimeoutMs` silently ignored is a test run against the wrong limit. The one exception is
 * the comment key `"//"` (a string or a list of strings), allowed in every object and dropped by
 * the loader before validation, so rig files stay plain JSON that jq, editors and JSON Schema
 * tools read unchanged.
 */

export { PLATFORMS };

/** The harness pushes the image to the device. */
export const PUSH_PROFILES = [
  'viperhttp',
  'viperhttp-doc',
  'arduino-ota',
  'web-update',
] as const satisfies readonly Profile[];
/** The device pulls the image from an update server (the harness, or a server under test). */
export const PULL_PROFILES = [
  'http-update',
  'esp-https-ota',
  'mqtt-trigger',
  'luartos',
] as const satisfies readonly Profile[];

/** Which chips each profile's implementation runs on (reference/*.md). */
export const PROFILE_PLATFORMS: Readonly<Record<Profile, readonly Platform[]>> = {
  // ViperHTTP's server is a MicroPython C module for the ESP32 port only (viperhttp-luartos-mqtt.md §1).
  viperhttp: ['esp32'],
  'viperhttp-doc': ['esp32'],
  'arduino-ota': ['esp32', 'esp8266'],
  'web-update': ['esp32', 'esp8266'],
  'http-update': ['esp32', 'esp8266'],
  'esp-https-ota': ['esp32'],
  // buttonsMeshIDF is ESP-IDF, Homie is ESP8266, Tasmota runs on both.
  'mqtt-trigger': ['esp32', 'esp8266'],
  luartos: ['esp32'],
};

/** Features a target can claim besides the profiles it speaks. A suite that needs one the target lacks is skipped. */
export const FEATURE_CAPABILITIES = [
  /** A serial console the harness reads (boot log, progress, panics). */
  'console',
  /** Power can be switched off and on (a plug, a relay, the emulator's control plane). */
  'power-cycle',
  /** Power can be cut once N image bytes have gone out: exact on emulators, within relay latency on boards. */
  'power-cut-at-byte',
  /** The chip can be reset without cutting power (EN via RTS, a software restart, the emulator). */
  'reset',
  /** The bootloader falls back to the previous image when a new one is not marked valid (ESP32 only). */
  'rollback',
  /** eFuse secure_version checks refuse an older image (ESP32 only). */
  'anti-rollback',
  /** Resumes or fetches an image with HTTP Range requests. */
  'range',
  /** Accepts only images signed with the device's key (bin + signature + u32 length). */
  'signed-images',
  /** Accepts gzip-compressed images. */
  'gzip-images',
  /** Can update the filesystem partition as well as the app (web-update `filesystem`, http-update SPIFFS). */
  'filesystem-update',
  /** Speaks HTTPS / MQTT over TLS for its OTA traffic. */
  'tls',
  /** Follows HTTP redirects to the image. */
  'redirects',
  /** Continues an interrupted download after a reset instead of starting over. */
  'resume',
  /**
   * ESP8266: eboot finds its copy command again after a power cut during the copy and restarts it
   * (RTC user memory keeps the command through the power-off; reference/arduino-ota.md §4.7: the
   * intent of PR #6823, UNCONFIRMED on a real power-off, so a rig claims it for its boards).
   */
  'eboot-resume',
  /** web-update: HTTP Digest authentication besides Basic. */
  'digest-auth',
  /** An update server gives an ETag and answers If-None-Match with 304 (role 2). */
  'etag',
] as const;

export const CAPABILITIES = [...PROFILES, ...FEATURE_CAPABILITIES] as const;
export type FeatureCapability = (typeof FEATURE_CAPABILITIES)[number];
export type Capability = Profile | FeatureCapability;

const ESP8266_LACKS: readonly Capability[] = ['rollback', 'anti-rollback'];

/** The endpoints a container target's ports can be (see containerTargetSchema). */
export const CONTAINER_ENDPOINTS = ['http', 'https', 'ota', 'console', 'control'] as const;
export type ContainerEndpoint = (typeof CONTAINER_ENDPOINTS)[number];

export const TARGET_KINDS = ['emulator', 'emulator-process', 'board', 'container', 'update-server'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

const KEBAB_CASE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const httpUrl = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' });
const mqttUrl = z.url({
  protocol: /^(mqtts?|wss?|tcp|tls)$/,
  error: 'expected an mqtt://, mqtts://, ws:// or wss:// URL',
});
const port = z.int().min(0).max(65535);
const positiveMs = z.int().positive();

/** A secret given in the file (discouraged for anything real) or taken from the environment. */
export const secretRefSchema = z.strictObject({
  /** Name of the environment variable that holds the secret. */
  env: z.string().regex(ENV_NAME, 'expected an environment variable name such as OTA_TOKEN'),
  /**
   * Used when the variable is unset or empty. Only emulator targets may have one: the harness
   * starts those devices itself with this very secret, so it protects nothing real, and it lets
   * `npx ota-conformance run` work with no environment at all.
   */
  default: z.string().min(1).optional(),
});
export const secretSchema = z.union([z.string().min(1, 'a secret must not be empty'), secretRefSchema], {
  error: 'expected a string or { "env": "NAME" }',
});
export type SecretRef = z.infer<typeof secretRefSchema>;
export type Secret = z.infer<typeof secretSchema>;

/** Every key whose value is a secret, wherever it sits. Used to redact the rig itself and loader messages. */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['token', 'password', 'passphrase', 'controlToken']);

const hexOrNumber = z.union([
  z.int().positive(),
  z
    .string()
    .regex(/^0x[0-9a-fA-F]+$/, 'expected a number of bytes or a hex string such as "0x1E0000"')
    .transform((hex) => Number.parseInt(hex, 16)),
]);

export const limitsSchema = z.strictObject({
  /** How long the device keeps an idle upload session (viperhttp: 30 s in the seed). */
  sessionTimeoutMs: positiveMs.optional(),
  /** Size of the OTA app partition: the largest image the device accepts. */
  partitionSize: hexOrNumber.optional(),
  /** Per-step timeout the drivers use for one request, one console expect, one ack. */
  stepTimeoutMs: positiveMs.optional(),
  /** How long a reboot may take until the new image answers. */
  rebootTimeoutMs: positiveMs.optional(),
  /** How long a whole update (transfer, verify, reboot) may take. */
  updateTimeoutMs: positiveMs.optional(),
  /**
   * How long the device's updater waits for image bytes that do not come before it gives up
   * (Update.writeStream: 60 s on an ESP8266; suites/http-update/device-timeouts.ts).
   */
  streamTimeoutMs: positiveMs.optional(),
});

export const tlsSchema = z.strictObject({
  /** Paths are relative to the rig file. */
  caFile: z.string().min(1).optional(),
  certFile: z.string().min(1).optional(),
  keyFile: z.string().min(1).optional(),
  passphrase: secretSchema.optional(),
  /** Lua RTOS still speaks TLS 1.1 (viperhttp-luartos-mqtt.md §2), so the floor is a rig setting. */
  minVersion: z.enum(['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']).optional(),
  /** false accepts a self-signed peer: for a bench without a CA, never for a vendor report. */
  verifyPeer: z.boolean().optional(),
});

export const emulatorSchema = z.strictObject({
  /** Deliberate non-conformances (names from the firmware's defect list). */
  defects: z.array(z.string().regex(KEBAB_CASE, 'expected a kebab-case defect name')).optional(),
  /** Firmware options passed through as they are (session timeout, chunk limits, dialect…). */
  options: z.record(z.string(), z.unknown()).optional(),
  /** Flash timing: `none` is instant (CI), `esp32` / `esp8266` as slow as a real chip (benchmarks). */
  timing: z.enum(['none', 'esp32', 'esp8266']).optional(),
  /**
   * Where the chip's UART goes: `tcp` a `tcp://host:port` console like a networked serial server
   * (what a run gives every emulator it starts; works everywhere), `pty` a pseudo-terminal for the
   * serial driver (needs socat), `memory` nowhere but the device's own history.
   */
  console: z.enum(['memory', 'tcp', 'pty']).optional(),
  /** Seed for every random choice the emulator makes (power-cut tearing, filler bytes). */
  seed: z.int().min(0).optional(),
  /** Interface the emulator listens on; loopback unless a board-like setup needs more. */
  host: z.string().min(1).optional(),
  /** Fixed ports by endpoint name (`http`, `udp`, …); absent lets the OS choose. */
  ports: z.record(z.string(), port).optional(),
  /** Bearer token for the emulator's power control plane. */
  controlToken: secretSchema.optional(),
  /**
   * Run another profile's firmware behind this target (the target's suites are still its own
   * profile's): how the `viperhttp-doc` suites are run against the real `viperhttp` code.
   */
  firmware: z.enum(PROFILES).optional(),
});

export const consoleSchema = z.strictObject({
  /**
   * `/dev/ttyUSB0`, `COM3`, a PTY path, `rfc2217://host:port` or `socket://host:port` (`tcp://`)
   * for a networked serial server, or `auto`: the port of the board `identity` names (its USB
   * serial number or VID:PID in serialport's port list).
   */
  port: z.string().min(1),
  baudRate: z.int().positive().default(115200),
  /** Reopen the port when it disappears (USB re-enumeration on reset) instead of failing the run. */
  reopen: z.boolean().default(true),
});

/** Default off time of a power cycle, shared by every switch so a rig reads the same everywhere. */
const offTimeMs = positiveMs.optional();

export const powerSchema = z.discriminatedUnion(
  'type',
  [
    /** The emulator's own HTTP control plane (emulators/control-plane): on, off, cycle, cut-after. */
    z.strictObject({
      type: z.literal('emulator-control'),
      url: httpUrl,
      token: secretSchema.optional(),
      offTimeMs,
    }),
    /** A Tasmota plug over HTTP (`/cm?cmnd=Power …`). */
    z.strictObject({
      type: z.literal('tasmota'),
      url: httpUrl,
      user: z.string().min(1).optional(),
      password: secretSchema.optional(),
      /** Which relay on a multi-relay device (`Power2`); 1 by default. */
      relay: z.int().positive().optional(),
      offTimeMs,
    }),
    /** A Shelly Gen1 plug (`/relay/<n>`). */
    z.strictObject({
      type: z.literal('shelly-gen1'),
      url: httpUrl,
      relay: z.int().min(0).optional(),
      user: z.string().min(1).optional(),
      password: secretSchema.optional(),
      offTimeMs,
    }),
    /** A Shelly Gen2 plug (`/rpc/Switch.Set?id=<n>`). */
    z.strictObject({
      type: z.literal('shelly-gen2'),
      url: httpUrl,
      id: z.int().min(0).optional(),
      password: secretSchema.optional(),
      offTimeMs,
    }),
    /** Any switch a shell command can drive. A string runs in a shell; a list is argv, run without one. */
    z.strictObject({
      type: z.literal('exec'),
      on: z.union([z.string().min(1), z.array(z.string()).min(1)]),
      off: z.union([z.string().min(1), z.array(z.string()).min(1)]),
      cycle: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
      offTimeMs,
    }),
    /** A USB hub port switched with uhubctl: the board's USB power is its only supply. */
    z.strictObject({
      type: z.literal('uhubctl'),
      hub: z.string().min(1),
      port: z.int().positive(),
      offTimeMs,
    }),
    /** A person at the bench: the harness prints what to do and waits for Enter. */
    z.strictObject({ type: z.literal('manual'), offTimeMs }),
    /**
     * The USB-serial bridge's DTR/RTS lines on EN and GPIO0, as esptool uses them. This is a
     * reset, not a power cut: RAM and peripherals keep their supply.
     */
    z.strictObject({ type: z.literal('dtr-rts'), port: z.string().min(1) }),
  ],
  // Generic: the loader names the accepted types from the issue itself.
  { error: 'unknown power type' },
);
export type PowerConfig = z.infer<typeof powerSchema>;
export type PowerType = PowerConfig['type'];

/**
 * How to reset the chip without cutting its power (EN low, then high), kept apart from `power`
 * because a reset and a power cut test different things (hil-anchors.md §8 b.2).
 */
export const resetSchema = z.discriminatedUnion(
  'type',
  [
    /** esptool's wiring: RTS on EN, DTR on GPIO0 of the USB-serial bridge. */
    z.strictObject({ type: z.literal('dtr-rts'), port: z.string().min(1) }),
    z.strictObject({
      type: z.literal('exec'),
      command: z.union([z.string().min(1), z.array(z.string()).min(1)]),
    }),
  ],
  { error: 'unknown reset type' },
);
export type ResetConfig = z.infer<typeof resetSchema>;

/** Where the harness' update server listens and what URL the device is told (pull profiles). */
export const updateServerSchema = z.strictObject({
  /** Interface to listen on: loopback for emulators, `0.0.0.0` or a LAN address for boards. */
  host: z.string().min(1).optional(),
  /** 0 or absent lets the OS choose. */
  port: port.optional(),
  /** The base URL the device reaches the server at (a board cannot reach 127.0.0.1 of the harness). */
  publicUrl: httpUrl.optional(),
});

export const mqttSchema = z
  .strictObject({
    /** An existing broker. */
    brokerUrl: mqttUrl.optional(),
    /** Start the harness' own broker (aedes) instead; `{}` listens on loopback on any port. */
    embedded: z.strictObject({ host: z.string().min(1).optional(), port: port.optional() }).optional(),
    username: z.string().min(1).optional(),
    password: secretSchema.optional(),
    /** Which convention the device follows (viperhttp-luartos-mqtt.md §3). */
    dialect: z.enum(['buttons-mesh', 'buttons-json', 'buttons-u', 'tasmota', 'homie']).optional(),
    /** The device's topic or Homie device id. */
    topic: z.string().min(1).optional(),
  })
  .check((context) => {
    const { brokerUrl, embedded } = context.value;
    if ((brokerUrl === undefined) === (embedded === undefined)) {
      context.issues.push({
        code: 'custom',
        input: context.value,
        path: [],
        message: 'give exactly one of "brokerUrl" (an existing broker) or "embedded" (start one)',
      });
    }
  });

/** Board identity, so the harness never flashes or cuts the wrong board (hil-anchors.md §8 b.8). */
export const identitySchema = z.strictObject({
  mac: z
    .string()
    .regex(/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/, 'expected a MAC address such as 24:0a:c4:12:34:56')
    .optional(),
  /** The USB-serial bridge's serial number: the console port is the one that has it. */
  usbSerialNumber: z.string().min(1).optional(),
  /** The USB-serial bridge's vendor and product ID, e.g. `10c4:ea60` (CP210x), `303a:1001` (ESP32-S3 USB). */
  usbVidPid: z
    .string()
    .regex(/^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/, 'expected vendor:product in hex, such as 10c4:ea60')
    .optional(),
  /** USB location as serialport's port list gives it (`locationId`; not given on Linux). */
  usbLocation: z.string().min(1).optional(),
});

const common = {
  name: z.string().regex(KEBAB_CASE, 'expected a kebab-case name such as "bench-esp32"'),
  profile: z.enum(PROFILES),
  platform: z.enum(PLATFORMS).optional(),
  description: z.string().optional(),
  /** What the target claims: profile names and features. The target's own profile is implied. */
  capabilities: z.array(z.enum(CAPABILITIES)).default([]),
  /** Free labels for selecting targets (`--tags bench-2`), as labgrid places have. */
  tags: z.array(z.string().regex(KEBAB_CASE, 'expected a kebab-case tag')).optional(),
  limits: limitsSchema.optional(),
  tls: tlsSchema.optional(),
};

const credentials = {
  /** viperhttp: X-OTA-Token / Bearer. */
  token: secretSchema.optional(),
  /** arduino-ota password, web-update Basic/Digest password. */
  password: secretSchema.optional(),
  /** web-update user name (not a secret, but never logged beside the password). */
  username: z.string().min(1).optional(),
};

const deviceEndpoints = {
  /** Base URL for push profiles over HTTP (viperhttp, viperhttp-doc, web-update). */
  url: httpUrl.optional(),
  /** Device address for arduino-ota (espota's UDP invitation). */
  host: z.string().min(1).optional(),
  /** arduino-ota UDP port: 3232 on ESP32, 8266 on ESP8266 when absent. */
  port: port.optional(),
  updateServer: updateServerSchema.optional(),
  mqtt: mqttSchema.optional(),
  /** Profile options for the drivers (chunk size, dialect details) passed through as they are. */
  options: z.record(z.string(), z.unknown()).optional(),
};

export const emulatorTargetSchema = z.strictObject({
  ...common,
  ...credentials,
  kind: z.literal('emulator'),
  emulator: emulatorSchema.default({}),
  updateServer: updateServerSchema.optional(),
  mqtt: mqttSchema.optional(),
});

export const emulatorProcessTargetSchema = z.strictObject({
  ...common,
  ...credentials,
  kind: z.literal('emulator-process'),
  emulator: emulatorSchema.default({}),
  updateServer: updateServerSchema.optional(),
  mqtt: mqttSchema.optional(),
});

/** One vendor build: a path, or a path with the version it runs (ESP8266 sketches carry none). */
export const firmwareImageSchema = z.union(
  [z.string().min(1), z.strictObject({ path: z.string().min(1), version: z.string().min(1).optional() })],
  { error: 'expected a path, or { "path": …, "version": … }' },
);

/**
 * The vendor's own builds a board runs (issue 10): each is an app `.bin`, an ESP-IDF `build/`
 * folder (flasher_args.json) or a PlatformIO `.pio/build/<env>/` folder; an ESP8266 sketch is
 * the Arduino `.bin` (eboot + app). Paths are relative to the rig file. Both carry the OTA
 * implementation under test, with different versions.
 */
export const firmwareSchema = z.strictObject({
  /** What `flash` writes, and what every requirement starts from. */
  baseline: firmwareImageSchema,
  /** The bootable update the requirements install. */
  update: firmwareImageSchema,
  /** ESP32: the second-stage bootloader .bin for 0x1000 when the images are plain app .bins. */
  bootloader: z.string().min(1).optional(),
  /** ESP32: the partition table .bin for 0x8000 when the images are plain app .bins. */
  partitionTable: z.string().min(1).optional(),
  /** ESP8266: a console line pattern whose first group is the running version. */
  versionPattern: z.string().min(1).optional(),
});
export type FirmwareConfig = z.output<typeof firmwareSchema>;

export const boardTargetSchema = z.strictObject({
  ...common,
  ...credentials,
  ...deviceEndpoints,
  kind: z.literal('board'),
  console: consoleSchema.optional(),
  power: powerSchema.optional(),
  reset: resetSchema.optional(),
  identity: identitySchema.optional(),
  firmware: firmwareSchema.optional(),
  /** `flash`: write the baseline over the serial port before the target's suites (a known state). */
  prepare: z.literal('flash').optional(),
});

export const containerTargetSchema = z.strictObject({
  ...common,
  ...credentials,
  ...deviceEndpoints,
  kind: z.literal('container'),
  container: z.strictObject({
    image: z.string().min(1),
    /**
     * Container ports by endpoint: `http` / `https` the device's URL, `ota` its espota UDP port,
     * `console` a raw TCP console, `control` an emulator-style power control plane (Tasmota-
     * compatible). The harness maps each to a host port and fills in url, host/port, console, power.
     */
    ports: z.partialRecord(z.enum(CONTAINER_ENDPOINTS), port.min(1)),
    env: z.record(z.string().regex(ENV_NAME), secretSchema).optional(),
    command: z.array(z.string()).optional(),
  }),
});

/**
 * The second role of DESIGN.md: an update server under test, with the harness as the device.
 * `embedded: true` is the harness' own reference server (a self-check of the role-2 suites).
 */
export const updateServerTargetSchema = z.strictObject({
  ...common,
  ...credentials,
  kind: z.literal('update-server'),
  url: httpUrl.optional(),
  embedded: z.literal(true).optional(),
  /** Deliberate non-conformances of the embedded reference server (its defect list), for the kill matrix. */
  defects: emulatorSchema.shape.defects,
  options: z.record(z.string(), z.unknown()).optional(),
});

export const targetSchema = z
  .discriminatedUnion('kind', [
    emulatorTargetSchema,
    emulatorProcessTargetSchema,
    boardTargetSchema,
    containerTargetSchema,
    updateServerTargetSchema,
  ])
  .check((context) => {
    for (const problem of targetConsistency(context.value)) {
      context.issues.push({
        code: 'custom',
        input: context.value,
        path: problem.path,
        message: problem.message,
      });
    }
  });

export const defaultsSchema = z.strictObject({
  platform: z.enum(PLATFORMS).optional(),
  limits: limitsSchema.optional(),
  tls: tlsSchema.optional(),
  /** Applied to every emulator and emulator-process target under its own `emulator` block. */
  emulator: emulatorSchema.pick({ timing: true, console: true, seed: true, host: true }).optional(),
});

export const rigSchema = z
  .strictObject({
    $schema: z.string().optional(),
    name: z.string().min(1).optional(),
    description: z.string().optional(),
    defaults: defaultsSchema.optional(),
    targets: z.array(targetSchema).min(1, 'a rig needs at least one target'),
  })
  .check((context) => {
    const seen = new Map<string, number>();
    context.value.targets.forEach((target, index) => {
      const first = seen.get(target.name);
      if (first === undefined) seen.set(target.name, index);
      else {
        context.issues.push({
          code: 'custom',
          input: target.name,
          path: ['targets', index, 'name'],
          message: `duplicate target name "${target.name}" (also targets[${first}])`,
        });
      }
    });
  });

export type RigTarget = z.output<typeof targetSchema>;
export type EmulatorTarget = z.output<typeof emulatorTargetSchema>;
export type EmulatorProcessTarget = z.output<typeof emulatorProcessTargetSchema>;
export type BoardTarget = z.output<typeof boardTargetSchema>;
export type ContainerTarget = z.output<typeof containerTargetSchema>;
export type UpdateServerTarget = z.output<typeof updateServerTargetSchema>;
export type RigDefaults = z.output<typeof defaultsSchema>;
export type Limits = z.output<typeof limitsSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;
export type ConsoleConfig = z.output<typeof consoleSchema>;
export type MqttConfig = z.output<typeof mqttSchema>;
export type UpdateServerConfig = z.output<typeof updateServerSchema>;
export type EmulatorConfig = z.output<typeof emulatorSchema>;
/** The file as validated, before defaults are merged into its targets. */
export type RigDocument = z.output<typeof rigSchema>;

interface Problem {
  path: (string | number)[];
  message: string;
}

const isEmulated = (kind: TargetKind): boolean => kind === 'emulator' || kind === 'emulator-process';
/** Kinds the harness does not start itself: their secrets protect something real. */
const holdsRealSecrets = (kind: TargetKind): boolean => kind === 'board' || kind === 'update-server';

/**
 * Cross-field rules a shape cannot say: a claimed capability needs the means to exercise it, a
 * profile needs the endpoint it is reached at, and a default secret is only for emulators.
 */
function targetConsistency(target: z.output<typeof targetSchema>): Problem[] {
  const problems: Problem[] = [];
  const claims = (capability: Capability) => target.capabilities.indexOf(capability);

  const seen = new Set<string>();
  target.capabilities.forEach((capability, index) => {
    if (seen.has(capability))
      problems.push({ path: ['capabilities', index], message: `"${capability}" is listed twice` });
    seen.add(capability);
  });

  if (target.platform !== undefined && !PROFILE_PLATFORMS[target.profile].includes(target.platform)) {
    problems.push({
      path: ['platform'],
      message: `profile "${target.profile}" runs only on ${PROFILE_PLATFORMS[target.profile].join(', ')}`,
    });
  }
  if (target.platform === 'esp8266') {
    for (const capability of ESP8266_LACKS) {
      const index = claims(capability);
      if (index >= 0) {
        problems.push({
          path: ['capabilities', index],
          message: `"${capability}" is an ESP32 bootloader feature; an ESP8266 has none`,
        });
      }
    }
  }
  if (target.platform === 'esp32') {
    const index = claims('eboot-resume');
    if (index >= 0)
      problems.push({
        path: ['capabilities', index],
        message: '"eboot-resume" is an ESP8266 eboot feature; an ESP32 has no eboot',
      });
  }

  for (const [key, secret] of secretsOf(target)) {
    if (typeof secret === 'object' && secret.default !== undefined && !isEmulated(target.kind)) {
      problems.push({
        path: [...key, 'default'],
        message: `a default secret is only allowed on emulator targets; a ${target.kind}'s secret comes from the environment`,
      });
    }
    // A real device's or server's secret written into a rig file ends up in version control.
    if (typeof secret === 'string' && holdsRealSecrets(target.kind)) {
      problems.push({
        path: key,
        message: `${target.kind === 'board' ? 'a board' : 'an update-server'}'s secret comes from the environment: write { "env": "NAME" } instead of the value`,
      });
    }
  }

  if (target.kind === 'update-server') {
    if (!(PULL_PROFILES as readonly string[]).includes(target.profile)) {
      problems.push({
        path: ['profile'],
        message: `an update-server target needs a pull profile (${PULL_PROFILES.join(', ')})`,
      });
    }
    if ((target.url === undefined) === (target.embedded === undefined)) {
      problems.push({
        path: [],
        message: 'give exactly one of "url" (a server to test) or "embedded": true',
      });
    }
    if (target.defects !== undefined && target.embedded === undefined) {
      problems.push({
        path: ['defects'],
        message: 'only the embedded reference server ("embedded": true) can be started with defects',
      });
    }
    return problems;
  }

  if (target.kind === 'board') {
    const power = target.power;
    const needs: [Capability, boolean, string][] = [
      ['console', target.console !== undefined, 'needs a "console" (serial port)'],
      [
        'power-cycle',
        power !== undefined && power.type !== 'dtr-rts',
        'needs a "power" switch (dtr-rts only resets)',
      ],
      [
        'power-cut-at-byte',
        power !== undefined && power.type !== 'dtr-rts' && power.type !== 'manual',
        'needs a switched "power" the harness drives itself (not dtr-rts or manual)',
      ],
      ['reset', target.reset !== undefined || power !== undefined, 'needs "reset" or "power"'],
    ];
    for (const [capability, present, message] of needs) {
      const index = claims(capability);
      if (index >= 0 && !present)
        problems.push({ path: ['capabilities', index], message: `"${capability}" ${message}` });
    }
    if (target.prepare === 'flash') {
      if (target.firmware === undefined)
        problems.push({
          path: ['prepare'],
          message: '"flash" needs "firmware" (at least a baseline and an update)',
        });
      if (target.console === undefined)
        problems.push({
          path: ['prepare'],
          message: '"flash" needs a "console" (the serial port it flashes over)',
        });
    }
    const usb = target.identity;
    if (
      target.console?.port === 'auto' &&
      usb?.usbSerialNumber === undefined &&
      usb?.usbVidPid === undefined &&
      usb?.usbLocation === undefined
    ) {
      problems.push({
        path: ['console', 'port'],
        message: '"auto" needs the board\'s identity: identity.usbSerialNumber, usbVidPid or usbLocation',
      });
    }
    // Two different ports for EN/GPIO0 and the UART is possible but almost always a typo.
    for (const [field, lines] of [
      ['power', power],
      ['reset', target.reset],
    ] as const) {
      if (lines?.type === 'dtr-rts' && target.console !== undefined && lines.port !== target.console.port) {
        problems.push({
          path: [field, 'port'],
          message: `differs from console.port "${target.console.port}"`,
        });
      }
    }
  }

  if (target.kind === 'board' || target.kind === 'container') {
    if (target.kind === 'board') {
      if (['viperhttp', 'viperhttp-doc', 'web-update'].includes(target.profile) && target.url === undefined) {
        problems.push({ path: ['url'], message: `profile "${target.profile}" is reached by URL: add "url"` });
      }
      if (target.profile === 'arduino-ota' && target.host === undefined) {
        problems.push({
          path: ['host'],
          message: 'profile "arduino-ota" needs the device "host" (and "port")',
        });
      }
      if (
        (PULL_PROFILES as readonly string[]).includes(target.profile) &&
        target.updateServer?.publicUrl === undefined
      ) {
        problems.push({
          path: ['updateServer', 'publicUrl'],
          message: `profile "${target.profile}": the device pulls from the harness; give the URL it reaches the harness at`,
        });
      }
    }
    if (target.profile === 'mqtt-trigger' && target.mqtt === undefined) {
      problems.push({ path: ['mqtt'], message: 'profile "mqtt-trigger" needs an "mqtt" broker' });
    }
  }
  return problems;
}

/** Every secret of a target with its path, including those nested in power, tls, mqtt and emulator. */
export function secretsOf(target: RigTarget): [(string | number)[], Secret][] {
  const found: [(string | number)[], Secret][] = [];
  const visit = (value: unknown, path: (string | number)[]) => {
    if (value === null || typeof value !== 'object') return;
    for (const [key, child] of Object.entries(value)) {
      if (SECRET_KEYS.has(key) && child !== undefined) {
        const parsed = secretSchema.safeParse(child);
        if (parsed.success) found.push([[...path, key], parsed.data]);
      } else if (key === 'env' && path.at(-1) === 'container') {
        for (const [name, secret] of Object.entries(child as Record<string, Secret>)) {
          found.push([[...path, key, name], secret]);
        }
      } else visit(child, [...path, key]);
    }
  };
  visit(target, []);
  return found;
}
