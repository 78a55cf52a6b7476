export { SHARED_UPDATE_ERROR, sharedUpdateErrorText } from './update-error-codes.ts';
