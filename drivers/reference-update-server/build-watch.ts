import { type FSWatcher, watch } from 'node:fs';
import { type Catalogue, loadCatalogue } from './catalogue.ts';

/**
 * Watches a firmware folder and hands every new catalogue to `onChange` once the folder has been
 * quiet for `settleMs` (a build being copied in fires many events). A folder that does not read
 * (a half-written `latest` file) is skipped until the next change.
 */
export function watchBuilds(
  directory: string,
  onChange: (catalogue: Catalogue) => void | Promise<void>,
  settleMs = 150,
): { close(): void } {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const reload = async () => {
    let catalogue: Catalogue;
    try {
      catalogue = await loadCatalogue(directory);
    } catch {
      return;
    }
    if (!closed) await onChange(catalogue);
  };
  const watcher: FSWatcher = watch(directory, { recursive: true }, () => {
    clearTimeout(timer);
    timer = setTimeout(() => void reload(), settleMs);
  });
  watcher.on('error', () => {});
  return {
    close: () => {
      closed = true;
      clearTimeout(timer);
      watcher.close();
    },
  };
}
