/**
 * Test support: collects the process's MaxListenersExceededWarning messages from now until the
 * returned `stop` (a firmware that leaks a listener per check on a long-lived signal shows one).
 */
export function watchListenerLeaks(): { leaks: string[]; stop: () => Promise<void> } {
  const leaks: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'MaxListenersExceededWarning') leaks.push(`${warning.name}: ${warning.message}`);
  };
  process.on('warning', onWarning);
  return { leaks, stop: async () => void process.off('warning', onWarning) };
}
