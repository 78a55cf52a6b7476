export { type DocHooks, DocOta, type DocSettings } from './doc-ota.ts';
export { VIPERHTTP_DOC_DEFECTS, viperhttpDocFirmware } from './viperhttp-doc-firmware.ts';
