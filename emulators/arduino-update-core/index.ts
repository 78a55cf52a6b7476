export { SectorBuffer } from './sector-buffer.ts';
export { SHARED_UPDATE_ERROR, sharedUpdateErrorText } from './update-error-codes.ts';
export { UpdateMd5 } from './update-md5.ts';
export { UpdateStatus } from './update-status.ts';
