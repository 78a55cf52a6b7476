import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT, type RunOutcome, runConformance } from '../suites/runner/run-conformance.ts';
import { writeViperhttpRig } from '../suites/runner/viperhttp-rig.test-support.ts';
import { historyIdFor } from './allure/allure-results.ts';
import {
  chromiumMissing,
  launchOfflineBrowser,
  type OfflineBrowser,
} from './offline-browser.test-support.ts';
import { ALLURE_HISTORY, ALLURE_REPORT, ALLURE_RESULTS } from './run-reports.ts';

/**
 * Two identical runs of the viperhttp auth and rollback requirements against a conforming
 * emulator and one that accepts any token (auth/2 and auth/3 fail) and claims no rollback (the
 * rollback requirements are skipped with the reason).
 */
async function twoRuns(): Promise<{ root: string; first: RunOutcome; second: RunOutcome }> {
  const dir = mkdtempSync(join(tmpdir(), 'reports-browser-'));
  const suites = join(dir, 'suites');
  mkdirSync(join(suites, 'viperhttp'), { recursive: true });
  // The run loads this file once for each target it collects; it loads the two suites once for
  // that target too (a query of the target's name), as the run does a suite file, so each target
  // registers their requirements in a module instance of its own (the targets share a worker).
  const context = join(PROJECT_ROOT, 'suites', 'framework', 'target-context.ts');
  writeFileSync(
    join(suites, 'viperhttp', 'selected.suite.ts'),
    [
      `import { currentTargetName } from ${JSON.stringify(context)};`,
      "const target = '?target=' + encodeURIComponent(currentTargetName() ?? '');",
      ...['auth', 'rollback'].map(
        (group) =>
          `await import(${JSON.stringify(join(PROJECT_ROOT, 'suites', 'viperhttp', `${group}.suite.ts`))} + target);`,
      ),
    ].join('\n'),
  );
  const rig = writeViperhttpRig(
    dir,
    'browser',
    [
      { name: 'good', defects: [] },
      { name: 'bad', defects: ['accepts-any-token'] },
    ],
    { env: 'BROWSER_TEST_TOKEN', default: 'browser-test-token' },
  );
  const root = join(dir, 'out');
  const run = () => runConformance({ rig, outDir: root, suitesDir: suites, write: () => {} });
  const first = await run();
  const second = await run();
  return { root, first, second };
}

interface AllureFile {
  uuid: string;
  fullName: string;
  historyId: string;
}
function allureResults(outcome: RunOutcome): AllureFile[] {
  const dir = join(outcome.run.dir, ALLURE_RESULTS);
  return readdirSync(dir)
    .filter((name) => name.endsWith('-result.json'))
    .map((name) => JSON.parse(readFileSync(join(dir, name), 'utf8')) as AllureFile);
}
/** The awesome report's route to a test result: the MD5 of the result's uuid (core store/convert.js). */
function allureRoute(outcome: RunOutcome, fullName: string): string {
  const result = allureResults(outcome).find((r) => r.fullName === fullName);
  if (!result) throw new Error(`no Allure result ${fullName}`);
  return `#${createHash('md5').update(result.uuid).digest('hex')}`;
}

describe.skipIf(chromiumMissing)('reports opened from disk in headless Chromium, network blocked', () => {
  let runs: Awaited<ReturnType<typeof twoRuns>>;
  let browser: OfflineBrowser;
  beforeAll(async () => {
    runs = await twoRuns();
    browser = await launchOfflineBrowser();
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('the matrix shows a failed requirement with Expected/Actual, source link and console log, a skipped one with its reason', async () => {
    const page = await browser.open(join(runs.second.run.dir, 'matrix.html'));
    const failed = await page.$eval('#r-bad-viperhttp-auth-2', (section) => ({
      text: (section as unknown as { textContent: string }).textContent,
      links: [...section.querySelectorAll('.source a')].map((a) => (a as unknown as { href: string }).href),
      evidence: [...section.querySelectorAll('details.evidence summary')].map((s) => s.textContent),
    }));
    expect(failed.text).toMatch(/FAIL viperhttp\/auth\/2 on bad/);
    expect(failed.text).toMatch(/Expected: 401[\s\S]*Actual: +200/);
    expect(failed.links.some((href) => href.startsWith('https://'))).toBe(true);
    expect(failed.evidence.some((summary) => summary?.startsWith('console log'))).toBe(true);
    const skipped = await page.$eval(
      '#r-good-viperhttp-rollback-1',
      (s) => (s as unknown as { textContent: string }).textContent,
    );
    expect(skipped).toMatch(/SKIP viperhttp\/rollback\/1 on good[\s\S]*target good does not claim rollback/);
    const cell = await page.$eval('a[href="#r-bad-viperhttp-auth-2"]', (a) => a.textContent);
    expect(cell).toBe('FAIL');
    expect(browser.attempted).toEqual([]);
  }, 60_000);

  it('the single-file Allure report shows the same, from disk, with no request leaving the page', async () => {
    const failedRoute = allureRoute(runs.second, 'viperhttp/auth/2 @ bad');
    const page = await browser.open(join(runs.second.run.dir, ALLURE_REPORT), failedRoute);
    await page.waitForSelector('::-p-text(Expected: 401)', { timeout: 20_000 });
    const text = (await page.evaluate('document.body.innerText')) as string;
    expect(text).toContain('viperhttp/auth/2 [MUST] answers 401 on every OTA route when the token is wrong');
    expect(text).toMatch(/Actual: +200/);
    expect(text).toContain('console log');
    const links = await page.$$eval('a[href^="https://github.com/"]', (as) =>
      as.map((a) => (a as unknown as { href: string }).href),
    );
    expect(links.length).toBeGreaterThan(0);

    const skipped = await browser.open(
      join(runs.second.run.dir, ALLURE_REPORT),
      allureRoute(runs.second, 'viperhttp/rollback/1 @ good'),
    );
    await skipped.waitForSelector('::-p-text(does not claim rollback)', { timeout: 20_000 });
    const skippedText = (await skipped.evaluate('document.body.innerText')) as string;
    expect(skippedText).toMatch(/Skipped/);
    expect(skippedText).toContain('target good does not claim rollback');
    expect(browser.attempted).toEqual([]);
  }, 60_000);

  it('two identical runs: every history ID matches, and the second report holds the first as history', async () => {
    const ids = (outcome: RunOutcome) =>
      allureResults(outcome)
        .map((r) => `${r.fullName} ${r.historyId}`)
        .sort();
    expect(ids(runs.second)).toEqual(ids(runs.first));
    expect(ids(runs.first).length).toBe(runs.first.results.length);
    for (const result of runs.first.results) {
      expect(ids(runs.first)).toContain(
        `${result.id} @ ${result.target} ${historyIdFor(result.target, result.id)}`,
      );
    }
    const history = readFileSync(join(runs.root, ALLURE_HISTORY), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { testResults: Record<string, unknown> });
    expect(history).toHaveLength(2);
    expect(Object.keys(history[1]!.testResults).sort()).toEqual(Object.keys(history[0]!.testResults).sort());
    expect(Object.keys(history[0]!.testResults)).toHaveLength(runs.first.results.length);

    const page = await browser.open(
      join(runs.second.run.dir, ALLURE_REPORT),
      allureRoute(runs.second, 'viperhttp/auth/2 @ bad'),
    );
    const tab = await page.waitForSelector('::-p-text(History)', { timeout: 20_000 });
    await tab!.click();
    await page.waitForFunction('location.hash.endsWith("/history")', { timeout: 20_000 });
    // The tab counts one earlier result (the first run's) and lists it.
    const text = (await page.evaluate('document.body.innerText')) as string;
    expect(text).toMatch(/History\s*1\s/);
    expect(text).toMatch(/\d{1,2}\/\d{1,2}\/\d{4} at \d{2}:\d{2}:\d{2}/);
    expect(browser.attempted).toEqual([]);
  }, 60_000);
});

it.skipIf(!chromiumMissing)('needs chromium to open the reports', () => {});
