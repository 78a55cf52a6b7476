import type { FirmwareContext, FirmwareModule } from '../../device/index.ts';
import {
  DEFAULT_LUARTOS_OPTIONS,
  LUA_OS_VER,
  LuaDriverError,
  type LuaRtosOptions,
  netOta,
} from './net-ota.ts';

export { type LuaRtosOptions, luaRtosRequest } from './net-ota.ts';

const SECTION = 'reference/viperhttp-luartos-mqtt.md §2';

/**
 * Lua RTOS (whitecatboard/Lua-RTOS-ESP32, master) running `net.ota()` on an emulated ESP32: at boot,
 * on an interval and when `ota check` (or `net.ota()`) is typed on the console.
 */
export const luartosFirmware: FirmwareModule = {
  profile: 'luartos',
  platforms: ['esp32'],
  deviceDefaults: { esp32: { chip: { rollback: false } } },
  defaultOptions: { ...DEFAULT_LUARTOS_OPTIONS } satisfies LuaRtosOptions,
  // net.c prints "Restarting ..." and calls esp_restart() at once (reference
  // viperhttp-luartos-mqtt.md §2.3–2.4).
  restartDelayMs: () => 0,
  defects: [
    {
      name: 'flashes-on-471',
      breaks: [
        'luartos/responses/1',
        `${SECTION}.3: 471 prints "No new firmware available" and returns without flashing or restarting`,
      ],
      description: 'treats a 471 answer like 200: reads its body, flashes it and restarts',
    },
    {
      name: 'restarts-after-failed-download',
      breaks: [
        'luartos/responses/3',
        `${SECTION}.4: a failed esp_ota_begin/write/end prints the error and returns without a restart`,
      ],
      description: 'restarts the chip after a download that failed to write or verify',
    },
    {
      name: 'accepts-lowercase-headers',
      breaks: [
        'luartos/responses/5',
        `${SECTION}.3: header names are compared case-sensitively (strcmp); lower-case content-length is not understood`,
      ],
      description: 'parses response header names case-insensitively, unlike the real client',
    },
    {
      name: 'silent-on-470',
      breaks: [
        'luartos/responses/2',
        `${SECTION}.3: 470 prints "Missing or bad arguments" and returns normally`,
      ],
      description:
        'handles 470 like any unknown status: prints nothing, so the bad-arguments answer goes unreported',
    },
    {
      name: 'tidy-host-header',
      breaks: [
        'luartos/request/1',
        `${SECTION}.2: the request's only header is "Host: <server>:<port> " (net_http.c's format, trailing space included)`,
      ],
      description: 'sends the usual "Host: <server>" without the port and the trailing space of net_http.c',
    },
    {
      name: 'no-restart-on-empty-200',
      breaks: [
        'luartos/responses/4',
        `${SECTION}.3: a 200 whose size is 0 skips the write and still prints "Restarting ..." and restarts`,
      ],
      description:
        'returns without a restart when a 200 announces Content-Length 0, as if nothing had been offered',
    },
  ],
  async start(context) {
    if (!context.esp32) throw new RangeError('the luartos firmware runs on ESP32 only');
    const options = { ...DEFAULT_LUARTOS_OPTIONS, ...context.options } as LuaRtosOptions;
    printBanner(context, options);
    let busy = false;
    const check = async () => {
      if (busy || context.signal.aborted) return;
      busy = true;
      try {
        await netOta(context, options);
      } catch (error) {
        if (context.signal.aborted) return;
        if (!(error instanceof LuaDriverError)) throw error;
        // What the Lua REPL prints for a driver error raised by net.ota().
        context.console.line(`net.ota: ${error.exception}: ${error.message}`);
      } finally {
        busy = false;
      }
    };
    context.console.onCommand((line) => {
      if (line === 'ota check' || line === 'net.ota()') void check();
    });
    if (options.checkOnBoot) void check();
    const timer =
      options.checkIntervalMs > 0 ? setInterval(() => void check(), options.checkIntervalMs) : undefined;
    return {
      stop: async () => {
        if (timer) clearInterval(timer);
      },
    };
  },
};

/**
 * What Lua RTOS prints as it boots, once ESP-IDF has handed over (Lua-RTOS-ESP32 6b455df4
 * `components/sys/sys/sys_init.c` 208–222): the build's commit and the partition it runs from are
 * what a real board says about itself, since its build logs below ESP-IDF's `App version:` line.
 * Not emulated: the screen clear (`console_clear()`, an ANSI escape) between the first two lines.
 */
function printBanner(context: FirmwareContext, options: LuaRtosOptions): void {
  const running = context.esp32!.ota.getRunningPartition();
  context.console.line('Booting Lua RTOS...');
  context.console.line(`Lua RTOS ${LUA_OS_VER}. Copyright (C) 2015 - 2020 whitecatboard.org`);
  context.console.line('');
  context.console.line(`build ${options.buildTime}`);
  context.console.line(`commit ${options.commit}`);
  context.console.line(`Running from ${running.label} partition`);
  // CONFIG_LUA_RTOS_BOARD_TYPE: the firmware id boards/gen_info.py writes for the build's board.
  context.console.line(`board type ${options.firmware}`);
}
