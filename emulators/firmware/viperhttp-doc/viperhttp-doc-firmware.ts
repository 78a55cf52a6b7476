import { type FirmwareModule, TWO_OTA_CSV } from '../../device/index.ts';
import { startHttpServer } from '../viperhttp/index.ts';
import { DocOta } from './doc-ota.ts';

const SEED = 'seeds/viperhttp-ota.md';

export const VIPERHTTP_DOC_DEFECTS = [
  {
    name: 'accepts-any-token',
    breaks: [`${SEED} § Error Handling: 401 Unauthorized — invalid or missing OTA token`],
    description: 'any Bearer value is accepted; only a missing Authorization header is refused.',
  },
  {
    name: 'accepts-bad-sha',
    breaks: [
      `${SEED} § SHA256 Verification: if the computed hash does not match, the update is rejected and the device continues running the current firmware`,
    ],
    description: 'finalize commits the image whatever sha256 the client sent.',
  },
  {
    name: 'never-times-out-session',
    breaks: [
      `${SEED} § OTA Session Management: if no write arrives within the timeout, the session is cancelled`,
    ],
    description: 'an idle session lives until reboot, blocking every later begin with 409.',
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
