/*
 * The words every layer shares (bin, suites, drivers, rigs, reports and the emulators alike): which
 * profiles and chips there are, the levels of a requirement, and the shape of an error with a code.
 * Below all of them, importing nothing, so no layer takes its vocabulary from another's insides.
 */
export { codedError } from './coded-error.ts';
export { type Level, PLATFORMS, type Platform, PROFILES, type Profile } from './profiles.ts';
