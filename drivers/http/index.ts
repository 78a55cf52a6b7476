export {
  type AuthChallenge,
  basicAuthorization,
  type DigestInput,
  digestAuthorization,
  parseChallenges,
  UnsupportedDigestError,
} from './digest-auth.ts';
export { HttpStepError, type HttpStepErrorCode, type HttpStepErrorDetails } from './errors.ts';
export type { HttpMethod } from './http-target.ts';
export type { RawBytesRequest, RawHttpRequest, RawResponse } from './raw-request.ts';
export { SECRET_MASK, type TranscriptEvent, type TranscriptHook } from './transcript.ts';
export {
  type BeginOptions,
  type ChunkOptions,
  type ChunkResult,
  type FinalizeOptions,
  type FinalizeOutcome,
  type PushOptions,
  type PushResult,
  type RawHttpResult,
  type RawRequestOptions,
  type RequestOptions,
  type ViperDialect,
  ViperHttpClient,
  type ViperHttpClientOptions,
  type ViperPartition,
  type ViperStatus,
} from './viperhttp-client.ts';
export {
  type WebAnswer,
  WebUpdateClient,
  type WebUpdateClientOptions,
  type WebUploadOptions,
  type WebUploadResult,
} from './web-update-client.ts';
