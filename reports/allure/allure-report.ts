import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunMetadata } from '../run-metadata.ts';

export interface AllureReportOptions {
  /** One or more allure-results folders (one per shard when merging). */
  resultsDirs: readonly string[];
  /** Where the single file goes: `<file>` (the HTML report, opens from disk). */
  file: string;
  /**
   * Allure's history (JSON lines, one per report generated), shared by the runs of one --out root
   * so the next report shows this one as history and flaky requirements stand out.
   */
  historyFile: string;
  metadata?: RunMetadata;
  name?: string;
}

/** Runs kept in Allure's history (its trend charts and flaky marks read them). */
export const ALLURE_HISTORY_RUNS = 5;

let loading: Promise<[typeof import('@allurereport/core'), unknown]> | undefined;

/** Allure's report generator and the awesome plugin it loads, imported once. */
function generator(): Promise<[typeof import('@allurereport/core'), unknown]> {
  loading ??= Promise.all([import('@allurereport/core'), import('@allurereport/plugin-awesome')]);
  return loading;
}

/**
 * Starts loading Allure's report generator (half a second of imports) while a run still waits on
 * its devices, so the report at the end does not pay for it.
 */
export function preloadAllureReport(): void {
  // Called on every result: once loading, nothing more to do.
  if (loading) return;
  generator().catch(() => {
    loading = undefined;
  });
}

/**
 * The Allure report as one HTML file that opens from disk (Allure 3's awesome report in its
 * single-file mode: data and code inlined), tree by profile › group › target, with no request
 * to the network: the awesome template always adds a Google Analytics tag (plugin-awesome
 * generators.js, `analyticsEnable: true`), which is removed from the file.
 */
export async function writeAllureReport(options: AllureReportOptions): Promise<string> {
  const [{ AllureReport, resolveConfig }] = await generator();
  const output = `${options.file}.d`;
  rmSync(output, { recursive: true, force: true });
  const config = await resolveConfig({
    name: options.name ?? 'ota-conformance',
    output,
    historyPath: options.historyFile,
    // The last five runs: enough for trends and flaky requirements, and a history that grows with
    // every run would make every report larger and slower (each run adds 0.36 MB of history and 0.7 MB
    // to the page: 18 runs made an 18 MB page).
    historyLimit: ALLURE_HISTORY_RUNS,
    variables: options.metadata ? variablesOf(options.metadata) : {},
    plugins: {
      awesome: {
        options: {
          singleFile: true,
          reportLanguage: 'en',
          groupBy: ['parentSuite', 'suite', 'subSuite'],
        },
      },
    },
  });
  const report = new AllureReport(config);
  await report.start();
  for (const dir of options.resultsDirs) if (existsSync(dir)) await report.readDirectory(dir);
  await report.done();
  const html = join(output, 'index.html');
  writeFileSync(html, withoutAnalytics(readFileSync(html, 'utf8')));
  renameSync(html, options.file);
  rmSync(output, { recursive: true, force: true });
  return options.file;
}

/** The template's analytics: an external gtag.js script and the inline script that configures it. */
export function withoutAnalytics(html: string): string {
  return html
    .replace(/<script async src="https:\/\/www\.googletagmanager\.com\/[^"]*"><\/script>/g, '')
    .replace(/<script>\s*window\.dataLayer = window\.dataLayer[\s\S]*?<\/script>/g, '');
}

function variablesOf(metadata: RunMetadata): Record<string, string> {
  const git = metadata.harness.git;
  return {
    Harness: `${metadata.harness.name} ${metadata.harness.version}${git ? ` (${git.commit.slice(0, 12)}${git.dirty ? ', modified' : ''})` : ''}`,
    Run: metadata.runId,
    Started: metadata.startedAt,
    Rig: `${metadata.rig.name} (${metadata.rig.file})`,
    Targets: metadata.targets
      .map((t) => `${t.name} (${[t.profile, t.chip, t.mac].filter(Boolean).join(', ')})`)
      .join('; '),
    Command: metadata.command.join(' '),
  };
}
