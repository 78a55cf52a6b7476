export { uploadFormPage } from './form-page.ts';
export {
  type MultipartEvent,
  MultipartFormatError,
  MultipartStream,
  multipartBoundary,
} from './multipart-stream.ts';
export { AUTH_REALM, type AuthScheme, UploadAuth } from './upload-auth.ts';
export {
  UPDATE_ERROR_PREFIX,
  UPDATE_SUCCESS_BODY,
  type WebUpdateOptions,
  webUpdateFirmware,
} from './web-update-firmware.ts';
