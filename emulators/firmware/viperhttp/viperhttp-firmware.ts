import { type FirmwareContext, type FirmwareModule, TWO_OTA_CSV } from '../../device/index.ts';
import { startHttpServer } from './http-server.ts';
import { ViperOtaCore } from './ota-core.ts';
import { viperRoutes } from './routes.ts';

const SECTION = 'reference/viperhttp-luartos-mqtt.md';

export const VIPERHTTP_DEFECTS = [
  {
    name: 'status-without-token',
    breaks: [
      'viperhttp/auth/1',
      `${SECTION} §1.3: auth is checked before anything else on every route, including status and abort`,
    ],
    description: 'GET /ota/status answers 200 without a token (the status route left open).',
  },
  {
    name: 'accepts-bearer',
    breaks: [
      'viperhttp/auth/4',
      `${SECTION} §1.3: the token header is X-OTA-Token; there is no Bearer prefix stripping`,
    ],
    description: 'takes `Authorization: Bearer <token>` as the token, as the narrative doc would have it.',
  },
  {
    name: 'accepts-any-token',
    breaks: [
      'viperhttp/auth/2',
      `${SECTION} §1.3: a token that does not equal ota_token is refused with 401 {"detail":"invalid ota token"}`,
    ],
    description: 'any X-OTA-Token / ?token= value is accepted; only a missing token is refused.',
  },
  {
    name: 'accepts-bad-sha',
    breaks: [
      'viperhttp/verify/1',
      `${SECTION} §1.5 ota_finalize step 4: a digest that differs from expected_sha256 → 409 "sha256 mismatch"`,
    ],
    description: 'finalize ignores the expected_sha256 given at begin and commits whatever was written.',
  },
  {
    name: 'commits-before-verifying',
    breaks: [
      'viperhttp/verify/2',
      `${SECTION} §1.5: SHA mismatch / any finalize failure leaves the session ACTIVE … no change to the boot partition`,
    ],
    description:
      'set_boot runs before the SHA check, so a mismatching image still answers 409 but boots next.',
  },
  {
    name: 'allows-second-session',
    breaks: [
      'viperhttp/session/1',
      `${SECTION} §1.5 ota_begin step 2: an active session without force → 409 "ota session already active"`,
    ],
    description: 'begin without force silently replaces the active session.',
  },
  {
    name: 'ignores-offset',
    breaks: [
      'viperhttp/write/1',
      `${SECTION} §1.5 ota_write step 3: an offset other than written → 409 "offset mismatch; only sequential writes are supported"`,
    ],
    description: 'the offset is parsed but never compared: a chunk at the wrong offset is appended.',
  },
  {
    name: 'never-rolls-back',
    breaks: [
      'viperhttp/rollback/1',
      `${SECTION} §1.5 ota_mark_app_valid: after an OTA reboot the new image must be marked valid before the next reset, or the bootloader rolls back`,
    ],
    description:
      'the app marks itself valid at every boot, so an image nobody confirmed is never rolled back.',
  },
  {
    name: 'otadata-in-place',
    breaks: [
      'viperhttp/update/2',
      `${SECTION} §1.5 ota_finalize step 5: set_boot = esp_ota_set_boot_partition (reference/esp-idf.md: otadata sector erased before the entry is written)`,
    ],
    description:
      'set_boot programs the otadata entry over the old one without erasing, so the third update is lost.',
  },
  {
    name: 'accepts-empty-chunk',
    breaks: [
      'viperhttp/write/2',
      `${SECTION} §1.5 ota_write step 2: the HTTP route refuses an empty payload with 400 "empty chunk" (viperhttp_ota.py 687–688)`,
    ],
    description:
      'the chunk route hands an empty body to the core, whose empty-payload path answers the snapshot with 200.',
  },
  {
    name: 'ignores-expected-size',
    breaks: [
      'viperhttp/write/3',
      `${SECTION} §1.5 ota_write step 4: written+len > expected_size → 400 "chunk exceeds expected_size"`,
    ],
    description:
      'a chunk is only checked against the partition capacity, so it may run past the expected_size given at begin.',
  },
  {
    name: 'ignores-capacity',
    breaks: [
      'viperhttp/write/4',
      `${SECTION} §1.5 ota_begin step 5: expected_size > capacity → 400 "expected_size exceeds update partition capacity"`,
    ],
    description:
      'begin never compares expected_size with the update partition; the overflow only shows at the chunk that hits the end.',
  },
  {
    name: 'force-ignored',
    breaks: [
      'viperhttp/session/2',
      `${SECTION} §1.5 ota_begin step 2: with force, an active session is aborted and a new one begins`,
    ],
    description:
      'begin answers 409 "ota session already active" whatever force says; only abort ends a session.',
  },
  {
    name: 'chunk-without-session',
    breaks: [
      'viperhttp/session/3',
      'viperhttp/session/5',
      `${SECTION} §1.5 ota_write step 1: no active session → 409 "ota session is not active"`,
    ],
    description:
      'a chunk with no session goes down the empty-payload path: 200 with the idle snapshot, the bytes dropped silently.',
  },
  {
    name: 'abort-keeps-session',
    breaks: [
      'viperhttp/session/5',
      `${SECTION} §1.5 ota_abort: clears the session, sets last_error="aborted"`,
    ],
    description:
      'abort answers aborted=true and sets last_error, but the session is never cleared: it stays active and blocks begin.',
  },
  {
    name: 'stale-progress',
    breaks: [
      'viperhttp/status/2',
      `${SECTION} §1.7 _status_snapshot: remaining_bytes and progress_pct follow written_bytes`,
    ],
    description:
      'remaining_bytes and progress_pct are computed once at begin and stored in the session, so they never move.',
  },
  {
    name: 'ignores-strict-size',
    breaks: [
      'viperhttp/verify/5',
      `${SECTION} §1.5 ota_finalize step 2: strict_size and written != expected_size → 409 "written size does not match expected_size"`,
    ],
    description: 'strict_size is parsed but never applied: a short image goes on to the SHA check.',
  },
  {
    name: 'finalizes-empty',
    breaks: [
      'viperhttp/verify/6',
      `${SECTION} §1.5 ota_finalize step 3: written <= 0 → 409 "no firmware bytes written"`,
    ],
    description: 'finalize has no zero-length check: a session with nothing written finalizes with 200.',
  },
  {
    name: 'skips-set-boot',
    breaks: [
      'viperhttp/update/1',
      `${SECTION} §1.5 ota_finalize step 5: set_boot → partition.set_boot() (esp_ota_set_boot_partition), so the next reset boots the new image`,
    ],
    description:
      'finalize reports set_boot: true but never switches the boot partition, so the old image keeps booting.',
  },
  {
    name: 'sets-boot-at-begin',
    breaks: [
      'viperhttp/verify/2',
      'viperhttp/verify/4',
      `${SECTION} §1.5: nothing changes the boot partition before ota_finalize step 5 (set_boot); any finalize failure leaves no change to the boot partition`,
    ],
    description:
      'begin selects the update slot for boot at once (esp_ota_set_boot_partition_skip_validate) so that finalize "only has to reboot": a cut or failed update leaves the half-written slot selected.',
  },
  {
    name: 'finalize-keeps-session',
    breaks: [
      'viperhttp/status/1',
      'viperhttp/session/4',
      `${SECTION} §1.5 ota_finalize step 6: on success the session is cleared; §1.7: session is null when idle`,
    ],
    description:
      'a finalize without reboot sets last_result but never clears the session (the reboot path clears RAM anyway), so it stays active.',
  },
  {
    name: 'mark-valid-no-op',
    breaks: [
      'viperhttp/rollback/2',
      `${SECTION} §1.5 ota_mark_app_valid: calls esp32.Partition.mark_app_valid_cancel_rollback(); an error → 500 "mark_app_valid failed: …"`,
    ],
    description:
      'mark-valid answers {"ok":true} but swallows the AttributeError of a MicroPython build without mark_app_valid_cancel_rollback, so the image is never confirmed and rolls back at the next reset.',
  },
  {
    name: 'no-413-close',
    breaks: [
      'viperhttp/transport/1',
      `${SECTION} §1.8: a request that does not fit VHTTP_RECV_BUF_SIZE gets 413 Payload Too Large and the connection is closed`,
    ],
    description:
      'the 413 is sent as a keep-alive answer and the rest of the request body is skipped, as a general-purpose server would.',
  },
  {
    name: 'accepts-chunked',
    breaks: [
      'viperhttp/transport/2',
      `${SECTION} §1.8: Transfer-Encoding: chunked → parser UNSUPPORTED → 400 (event loop) or 501 (worker)`,
    ],
    description: 'a build with a chunked decoder in the parser: a chunked chunk is decoded and written.',
  },
] as const;

export const VIPERHTTP_DEFAULT_OPTIONS = {
  /** `tools/run_server_wifi_ota.py`'s token; null = no auth (`ota_token=None`). */
  token: 'ota-e2e-token',
  prefix: '/ota',
  tokenHeader: 'X-OTA-Token',
  tokenQuery: 'token',
  demoRoutes: true,
  chunkedStatus: 400,
} as const;

function stringOption(context: FirmwareContext, key: string, fallback: string): string {
  const value = context.options[key];
  return typeof value === 'string' ? value : fallback;
}

/** ViperHTTP's OTA routes as `viperhttp_ota.py` implements them, on MicroPython for the ESP32. */
export const viperhttpFirmware: FirmwareModule = {
  profile: 'viperhttp',
  platforms: ['esp32'],
  defects: VIPERHTTP_DEFECTS,
  defaultOptions: VIPERHTTP_DEFAULT_OPTIONS,
  // MicroPython's OTA boards: two OTA slots, no factory app, rollback on (sdkconfig.base line 17).
  deviceDefaults: { esp32: { partitionCsv: TWO_OTA_CSV, chip: { rollback: true } } },
  async start(context) {
    const defects = context.defects;
    if (defects.has('never-rolls-back')) {
      try {
        context.esp32?.ota.markAppValidCancelRollback();
      } catch {
        // First boot of a blank otadata: there is nothing to confirm.
      }
    }
    const core = new ViperOtaCore(context, {
      acceptsBadSha: defects.has('accepts-bad-sha'),
      commitsBeforeVerifying: defects.has('commits-before-verifying'),
      allowsSecondSession: defects.has('allows-second-session'),
      ignoresOffset: defects.has('ignores-offset'),
      otadataInPlace: defects.has('otadata-in-place'),
      ignoresExpectedSize: defects.has('ignores-expected-size'),
      ignoresCapacity: defects.has('ignores-capacity'),
      forceIgnored: defects.has('force-ignored'),
      chunkWithoutSession: defects.has('chunk-without-session'),
      abortKeepsSession: defects.has('abort-keeps-session'),
      staleProgress: defects.has('stale-progress'),
      ignoresStrictSize: defects.has('ignores-strict-size'),
      finalizesEmpty: defects.has('finalizes-empty'),
      setsBootAtBegin: defects.has('sets-boot-at-begin'),
      skipsSetBoot: defects.has('skips-set-boot'),
      finalizeKeepsSession: defects.has('finalize-keeps-session'),
      markValidNoOp: defects.has('mark-valid-no-op'),
    });
    const tokenOption = context.options.token;
    const timers = new Set<NodeJS.Timeout>();
    const handler = viperRoutes(
      core,
      {
        prefix: stringOption(context, 'prefix', '/ota'),
        token: typeof tokenOption === 'string' ? tokenOption : null,
        tokenHeader: stringOption(context, 'tokenHeader', 'X-OTA-Token'),
        tokenQuery: stringOption(context, 'tokenQuery', 'token'),
        demoRoutes: context.options.demoRoutes !== false,
        acceptsAnyToken: defects.has('accepts-any-token'),
        statusWithoutToken: defects.has('status-without-token'),
        acceptsBearer: defects.has('accepts-bearer'),
        acceptsEmptyChunk: defects.has('accepts-empty-chunk'),
      },
      {
        reset: () => context.restart(),
        scheduleReset: (delayMs) => {
          const timer = setTimeout(() => {
            timers.delete(timer);
            if (!context.signal.aborted) context.restart();
          }, delayMs);
          timers.add(timer);
        },
        imageBytesArrived: (length) => context.imageBytesArrived(length),
      },
    );
    const server = await startHttpServer({
      host: context.host,
      port: context.preferredPort('http'),
      handler,
      limits: { chunkedStatus: context.options.chunkedStatus === 501 ? 501 : 400 },
      quirks: {
        keepsConnectionAfter413: defects.has('no-413-close'),
        decodesChunked: defects.has('accepts-chunked'),
      },
    });
    context.publish('http', { protocol: 'http', host: context.host, port: server.port });
    // The reference quotes no startup line for the app; this one names what a harness needs.
    context.console.line(
      `viperhttp: OTA routes at ${stringOption(context, 'prefix', '/ota')} on port ${server.port}`,
    );
    return {
      stop: async () => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.stop();
      },
    };
  },
};
