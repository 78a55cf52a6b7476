export { enableImageLedger, type ImageSent, noteImageSent, takeImagesSent } from './image-ledger.ts';
