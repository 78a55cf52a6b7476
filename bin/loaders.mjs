// How the launchers in bin/ load this project: tsx for our TypeScript, then a hook registered after
// it (so it sees every load first) that lets installed packages load as they ship (see
// packages-as-shipped.mjs). Imported first by each launcher.
import module from 'node:module';
import { register } from 'tsx/esm/api';

register();
module.register('./packages-as-shipped.mjs', import.meta.url);
