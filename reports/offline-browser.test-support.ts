import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Debian's chromium; tests that need it skip with this reason when it is absent. */
export const CHROMIUM = '/usr/bin/chromium';
export const chromiumMissing = existsSync(CHROMIUM) ? undefined : `chromium is not installed (${CHROMIUM})`;

export interface OfflineBrowser {
  /** Opens a file:// page; every other request is aborted and remembered. */
  open(file: string, hash?: string): Promise<Page>;
  /** Every non-file request any page attempted (must stay empty). */
  readonly attempted: string[];
  close(): Promise<void>;
}

/**
 * Headless Chromium with the network closed: background services off, a fresh profile, and
 * request interception that lets only file:, data: and blob: URLs through.
 */
export async function launchOfflineBrowser(): Promise<OfflineBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'chromium-profile-'));
  const browser: Browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      `--user-data-dir=${profile}`,
    ],
  });
  const attempted: string[] = [];
  return {
    attempted,
    async open(file, hash = '') {
      const page = await browser.newPage();
      await page.setViewport({ width: 1400, height: 1000 });
      await page.setRequestInterception(true);
      page.on('request', (request) => {
        if (/^(file|data|blob):/.test(request.url())) void request.continue();
        else {
          attempted.push(request.url());
          void request.abort();
        }
      });
      await page.goto(`file://${file}${hash}`, { waitUntil: 'load' });
      return page;
    },
    async close() {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
