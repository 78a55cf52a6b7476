import { type FirmwareModule, TWO_OTA_CSV } from '../../device/index.ts';
import { startHttpServer } from '../viperhttp/index.ts';
import { DocOta } from './doc-ota.ts';

const SEED = 'seeds/viperhttp-ota.md';

export const VIPERHTTP_DOC_DEFECTS = [
  {
    name: 'accepts-any-token',
    breaks: [
      'viperhttp-doc/auth/2',
      `${SEED} § Error Handling: 401 Unauthorized — invalid or missing OTA token`,
    ],
    description: 'any Bearer value is accepted; only a missing Authorization header is refused.',
  },
  {
    name: 'accepts-bad-sha',
    breaks: [
      'viperhttp-doc/update/2',
      `${SEED} § SHA256 Verification: if the computed hash does not match, the update is rejected and the device continues running the current firmware`,
    ],
    description: 'finalize commits the image whatever sha256 the client sent.',
  },
  {
    name: 'never-times-out-session',
    breaks: [
      'viperhttp-doc/session/2',
      `${SEED} § OTA Session Management: if no write arrives within the timeout, the session is cancelled`,
    ],
    description: 'an idle session lives until reboot, blocking every later begin with 409.',
  },
  {
    name: 'status-without-token',
    breaks: [
      'viperhttp-doc/auth/1',
      `${SEED} § Enabling OTA: all OTA requests must include this token; § Error Handling: 401 Unauthorized`,
    ],
    description:
      'GET /ota/status is left open (read-only, so "harmless"); the other routes still ask for the token.',
  },
  {
    name: 'size-optional',
    breaks: [
      'viperhttp-doc/params/1',
      `${SEED} § Phase 1: POST /ota/begin {"size": N}; § Error Handling: 400 Bad Request — missing parameters`,
    ],
    description:
      'begin without size opens a session sized to the whole update slot instead of refusing with 400.',
  },
  {
    name: 'finalize-without-sha',
    breaks: [
      'viperhttp-doc/params/2',
      `${SEED} § Phase 3: POST /ota/finalize {"sha256": …}; § Error Handling: 400 Bad Request — missing parameters`,
    ],
    description: 'a finalize without sha256 skips the verification and commits the written bytes.',
  },
  {
    name: 'write-without-session',
    breaks: [
      'viperhttp-doc/params/3',
      `${SEED} § Phase 2: validates the active OTA session; § Error Handling: 400 Bad Request — invalid session state`,
    ],
    description: 'a write with no session is answered 200 {"ok":true,"written":0} and its bytes are dropped.',
  },
  {
    name: 'allows-second-session',
    breaks: [
      'viperhttp-doc/session/1',
      `${SEED} § OTA Session Management: one active session; § Error Handling: 409 Conflict — session already active`,
    ],
    description: 'begin while a session is active silently replaces it with a new one.',
  },
  {
    name: 'no-progress',
    breaks: [
      'viperhttp-doc/session/3',
      `${SEED} § Phase 2: tracks progress (bytes written / total size); § OTA Session Management: byte counters in the status`,
    ],
    description:
      'the status shows the session id, seq and timeout only; the byte counters are in the write answers alone.',
  },
  {
    name: 'set-boot-skipped',
    breaks: [
      'viperhttp-doc/update/1',
      `${SEED} § Overview: after verification, the device reboots into the updated firmware`,
    ],
    description:
      'finalize verifies the digest and answers 200 but never selects the new slot, so the reboot brings back the old firmware.',
  },
] as const;

/** ViperHTTP as its narrative doc describes it (the `viperhttp-doc` profile of DESIGN.md). */
export const viperhttpDocFirmware: FirmwareModule = {
  profile: 'viperhttp-doc',
  platforms: ['esp32'],
  defects: VIPERHTTP_DOC_DEFECTS,
  defaultOptions: {
    /** The seed's `ota_token="your-secure-token"`. */
    token: 'your-secure-token',
    /** The seed names a timeout but no value; short, so CI sees it expire. */
    sessionTimeoutMs: 5000,
  },
  deviceDefaults: { esp32: { partitionCsv: TWO_OTA_CSV, chip: { rollback: true } } },
  async start(context) {
    // The seed never mentions rollback or mark-valid, yet the build has rollback on: an app built
    // from the doc confirms itself once its server is up, as ESP-IDF's examples do after a self-test.
    const token = context.options.token;
    const timeout = Number(context.options.sessionTimeoutMs);
    const timers = new Set<NodeJS.Timeout>();
    const ota = new DocOta(
      context,
      {
        token: typeof token === 'string' ? token : null,
        sessionTimeoutMs: Number.isFinite(timeout) && timeout > 0 ? timeout : 5000,
        neverTimesOut: context.defects.has('never-times-out-session'),
        acceptsAnyToken: context.defects.has('accepts-any-token'),
        acceptsBadSha: context.defects.has('accepts-bad-sha'),
        statusWithoutToken: context.defects.has('status-without-token'),
        sizeOptional: context.defects.has('size-optional'),
        finalizeWithoutSha: context.defects.has('finalize-without-sha'),
        writeWithoutSession: context.defects.has('write-without-session'),
        allowsSecondSession: context.defects.has('allows-second-session'),
        noProgress: context.defects.has('no-progress'),
        setBootSkipped: context.defects.has('set-boot-skipped'),
      },
      {
        scheduleReset: (delayMs) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!context.signal.aborted) context.restart();
          }, delayMs);
          timers.add(timer);
        },
      },
    );
    const server = await startHttpServer({
      host: context.host,
      port: context.preferredPort('http'),
      handler: ota.handler(),
    });
    context.publish('http', { protocol: 'http', host: context.host, port: server.port });
    try {
      context.esp32?.ota.markAppValidCancelRollback();
    } catch {
      // Nothing to confirm on a factory boot.
    }
    context.console.line(`viperhttp: OTA routes at /ota on port ${server.port}`);
    return {
      stop: async () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        ota.stop();
        server.stop();
      },
    };
  },
};
