export {
  enableImageLedger,
  type ImageSent,
  noteImageSent,
  recordImagesInto,
  takeImagesSent,
} from './image-ledger.ts';
