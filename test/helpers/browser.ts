import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's Chromium, which .ci/run installs: a missing browser is a failure, never a skip. */
export const CHROMIUM = '/usr/bin/chromium';
/** Headless and quiet: without the background-networking flags, the closed network refuses Chromium's own calls. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/**
 * A headless Chromium with a fresh profile and a phone-sized viewport for the whole file: launched
 * before its tests, closed and removed after them. Returns the context.
 */
export function usePhoneBrowser(profilePrefix: string): () => BrowserContext {
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium`);
    profile = mkdtempSync(join(tmpdir(), profilePrefix));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, viewport: { width: 412, height: 900 } });
  }, 30_000);
  afterAll(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });
  return () => {
    if (!context) throw new Error('The browser is not running: usePhoneBrowser() must be called at the top of a test file');
    return context;
  };
}

/** No serious or critical accessibility violation (axe-core), and a full-page screenshot in `artifacts`. */
export async function checkPage(page: Page, artifacts: string, name: string): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`);
  expect({ page: name, serious }).toEqual({ page: name, serious: [] });
  await page.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

/** Signs out, opens `path` on `base`, signs in on the dev sign-in page as the persona named `name`, and waits to be back on `path`. */
export async function signInAs(page: Page, base: string, name: string, path: string): Promise<void> {
  await page.goto(`${base}/.auth/logout`);
  await page.goto(`${base}${path}`);
  await page.getByRole('heading', { name: 'Sign in as a Contoso persona' }).waitFor();
  await page.getByRole('button', { name }).click();
  await page.waitForURL((url) => url.pathname === path);
}
