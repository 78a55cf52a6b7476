export {
  type HttpHandler,
  type HttpReply,
  type HttpRequest,
  type HttpServerLimits,
  parseQuery,
  reasonPhrase,
  type StartedHttpServer,
  type StartHttpServerOptions,
  startHttpServer,
  VIPERHTTP_LIMITS,
} from './http-server.ts';
export {
  LazyEraseWriter,
  MicroPythonOsError,
  MicroPythonPartition,
  PARTITION_BLOCK_SIZE,
  type PartitionDict,
  type PartitionInfo,
  PartitionWriteError,
  partitionDict,
} from './micropython-partition.ts';
export {
  type FinalizeResult,
  OtaError,
  parseBool,
  parseExpectedSha256,
  parsePositiveInt,
  type SessionView,
  type StatusSnapshot,
  ViperOtaCore,
} from './ota-core.ts';
export { normalisePrefix, requestPayload } from './routes.ts';
export {
  VIPERHTTP_DEFAULT_OPTIONS,
  VIPERHTTP_DEFECTS,
  viperhttpFirmware,
} from './viperhttp-firmware.ts';
