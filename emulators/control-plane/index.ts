export { startControlPlane } from './control-plane.ts';
export { ControlPlaneError } from './errors.ts';
export type { ControlPlaneOptions, PowerControllable, StartedControlPlane } from './power-controllable.ts';
