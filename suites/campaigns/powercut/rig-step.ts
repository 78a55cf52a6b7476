import type { Target } from '../../../drivers/target/index.ts';
import { RigFailure } from '../../framework/rig-failure.ts';

/** Runs one step of the rig's (power, restore, known state); its failure is the rig's, not the device's. */
export async function rigStep<T>(target: Target, step: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw new RigFailure(`target ${target.name}: ${step}: ${(error as Error).message}`, { cause: error });
  }
}
