import { existsSync } from 'node:fs';
import { copyFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatBytes } from '../app/src/format.js';
import { dashboardDir } from '../src/index.js';
import { readTree, startCairnServer } from './cairn-server.js';
import type { CairnTestServer } from './cairn-server.js';

/*
 * The dashboard end to end: a real @cairn/server (real core, a local repository, a files source)
 * serving the built dashboard, driven in Debian's Chromium by playwright-core. Screenshots of each
 * screen go to test-artifacts/dashboard/ (docs/dashboard.md shows them).
 */

const CHROMIUM = process.env.CAIRN_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/dashboard/', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
const haveBuild = existsSync(`${dashboardDir}/index.html`);

if (process.env.CI && !haveChromium) throw new Error(`Chromium is missing at ${CHROMIUM}: run scripts/services up chromium`);
if (process.env.CI && !haveBuild) throw new Error(`the dashboard is not built (${dashboardDir}): run pnpm build`);

describe.skipIf(!haveChromium || !haveBuild)('dashboard in Chromium', () => {
  let server: CairnTestServer;
  let browser: Browser;

  beforeAll(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    server = await startCairnServer({ dashboardDir });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh tab (its own sessionStorage) that fails the test on any error in the page. */
  async function openTab(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
    // Generous: the whole suite shares two cores with this browser.
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !/401|Unauthorized/.test(message.text())) errors.push(message.text());
    });
    return { context, page, errors };
  }

  async function shot(page: Page, name: string): Promise<void> {
    await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true });
  }

  it('signs in with a pasted token, refuses a bad one, signs in from ?token= and out again', async () => {
    const { context, page, errors } = await openTab();
    await page.goto(server.url);
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');
    await shot(page, 'sign-in');

    await page.getByLabel('Access token').fill('not-a-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'signed out' }).waitFor();
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign in');

    await page.getByLabel('Access token').fill(server.token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();
    await page.getByText(`Signed in as`).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('cairn.token'))).toBe(server.token);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('cairn.token'))).toBeNull();

    // The link `cairn serve` prints: signs in, and the token leaves the address bar.
    await page.goto(`${server.url}/schedules?token=${encodeURIComponent(server.token)}`);
    await page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
    expect(new URL(page.url()).search).toBe('');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('backs up, watches the run to the end, browses the snapshot, restores it byte for byte and compares snapshots', async () => {
    const { context, page, errors } = await openTab();
    await page.goto(`${server.url}/?token=${encodeURIComponent(server.token)}`);
    await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();

    // Trigger: the estimate first, then Start.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Back up' }).click();
    await page.getByRole('heading', { level: 1, name: 'Back up now' }).waitFor();
    await page.getByLabel('Job', { exact: true }).selectOption(server.jobName);
    await page.getByLabel(/Description/).fill('From the end-to-end test');
    await page.getByRole('button', { name: 'Estimate size' }).click();
    await page.getByRole('heading', { name: 'Size estimate' }).waitFor();
    const estimate = await page.locator('.figures').textContent();
    expect(estimate).toContain(`Files${server.fileCount}`);
    await shot(page, 'backup');
    await page.getByRole('button', { name: 'Start backup' }).click();

    // The run's page, live, to the end.
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.getByRole('progressbar').first().waitFor();
    await page.getByRole('status').filter({ hasText: 'Status:' }).filter({ hasText: /Succeeded|Failed|Aborted/ }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('status').filter({ hasText: 'Status:' }).textContent()).toContain('Succeeded');
    const runId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
    const figures = await page.locator('.figures').textContent();
    expect(figures).toContain(`Files${server.fileCount}`);
    await page.getByRole('table').filter({ hasText: 'Message' }).waitFor();
    await shot(page, 'run');

    // Runs and history list it.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('link', { name: new RegExp(`^Log of .*run ${escape(runId)}$`) }).waitFor();
    await shot(page, 'runs');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'History' }).click();
    await page.getByLabel('Status').selectOption('succeeded');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForURL(/status=succeeded/);
    await page.getByRole('link', { name: new RegExp(`run ${escape(runId)}$`) }).waitFor();
    await shot(page, 'history');
    await page.getByLabel('Status').selectOption('failed');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No runs match these filters.').waitFor();

    // Snapshots: browse the tree down to a nested file, with its size.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Snapshots' }).click();
    await page.getByRole('heading', { level: 1, name: 'Snapshots' }).waitFor();
    await page.getByRole('link', { name: /^Browse snapshot / }).first().click();
    await page.getByRole('heading', { level: 1, name: /^Snapshot / }).waitFor();
    for (const folder of server.nestedFile.split('/').slice(0, -1)) {
      await page.getByRole('link', { name: new RegExp(`^${escape(folder)}/$`) }).click();
      await page.getByRole('navigation', { name: 'Folder path' }).getByRole('link', { name: folder }).waitFor();
    }
    const fileName = server.nestedFile.split('/').pop()!;
    const row = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: fileName }) });
    expect(await row.textContent()).toContain(formatBytes(server.nestedFileSize));
    await shot(page, 'tree');

    // Restore the snapshot into a new folder, watch it, compare every byte.
    await page.getByRole('link', { name: 'Restore this snapshot' }).click();
    await page.getByRole('heading', { level: 1, name: 'Restore' }).waitFor();
    await page.getByLabel('Into a new folder').check();
    // Refused in the page, with a message, before anything reaches the server.
    const folder = page.getByLabel('New folder on the server');
    await folder.fill('/etc/cairn');
    await page.getByRole('button', { name: 'Start restore' }).click();
    await page.getByRole('alert').filter({ hasText: 'without a leading /' }).waitFor();
    await folder.fill('../outside');
    await page.getByRole('button', { name: 'Start restore' }).click();
    await page.getByRole('alert').filter({ hasText: 'cannot contain ".."' }).waitFor();
    await folder.fill(server.restoreDir);
    await page.getByText(`Inside ${server.restoreFolder} on the server`).first().waitFor();
    await shot(page, 'restore');
    await page.getByRole('button', { name: 'Start restore' }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.getByRole('heading', { level: 1, name: /^Restore/ }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Status:' }).filter({ hasText: /Succeeded|Failed|Aborted/ }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('status').filter({ hasText: 'Status:' }).textContent()).toContain('Succeeded');
    await shot(page, 'restore-run');
    expect(await readTree(server.restoredSourceDir())).toEqual(await readTree(server.sourceDir));

    // A second backup after a change, then the diff between the two snapshots.
    await server.changeSource();
    const second = await server.backupNow();
    expect(second).toBeTruthy();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Snapshots' }).click();
    await page.getByRole('heading', { name: 'Compare two snapshots' }).waitFor();
    await shot(page, 'snapshots');
    await page.getByRole('button', { name: 'Compare' }).click();
    await page.getByRole('heading', { level: 1, name: /^Changes from / }).waitFor();
    for (const change of server.expectedChanges) {
      await page.getByRole('row').filter({ hasText: change.path }).filter({ hasText: change.label }).first().waitFor();
    }
    await shot(page, 'diff');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('restores the latest snapshot in one click', async () => {
    const { context, page, errors } = await openTab();
    await page.goto(`${server.url}/restore?token=${encodeURIComponent(server.token)}`);
    // The default is a new folder inside the server's restore folder, named after the time.
    const name = await page.getByLabel('Into the new folder').inputValue();
    expect(name).toMatch(/^restore-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/);
    await page.getByText(`Inside ${server.restoreFolder} on the server`).first().waitFor();
    await page.getByLabel('Into the new folder').fill('../up');
    await page.getByRole('button', { name: 'Restore latest with defaults' }).click();
    await page.getByRole('alert').filter({ hasText: 'cannot contain ".."' }).waitFor();
    await page.getByLabel('Into the new folder').fill(name);
    await page.getByRole('button', { name: 'Restore latest with defaults' }).click();
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.getByRole('status').filter({ hasText: 'Status:' }).filter({ hasText: /Succeeded|Failed|Aborted/ }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('status').filter({ hasText: 'Status:' }).textContent()).toContain('Succeeded');
    const restored = await readTree(join(server.restoreFolder, name));
    expect(Object.keys(restored).length).toBeGreaterThan(0);

    // The same folder again: it holds files now, so the server refuses it, and the page says why at the field.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Restore' }).click();
    await page.getByRole('heading', { level: 1, name: 'Restore' }).waitFor();
    await page.getByLabel('Into the new folder').fill(name);
    await page.getByRole('button', { name: 'Restore latest with defaults' }).click();
    await page.getByRole('alert').filter({ hasText: `The folder ${name} in the restore folder ${server.restoreFolder} already holds files` }).filter({ hasText: `like ${name}-2.` }).waitFor();
    expect(await page.getByLabel('Into the new folder').getAttribute('aria-invalid')).toBe('true');
    await shot(page, 'restore-refused');
    expect(new URL(page.url()).pathname).toBe('/restore');
    expect(await readTree(join(server.restoreFolder, name))).toEqual(restored);
    // The browser logs the refused request itself; nothing else went wrong.
    expect(errors).toEqual(['Failed to load resource: the server responded with a status of 409 (Conflict)']);
    await context.close();
  });

  it('pauses and resumes a schedule, then all of them', async () => {
    const { context, page, errors } = await openTab();
    await page.goto(`${server.url}/schedules?token=${encodeURIComponent(server.token)}`);
    const state = page.getByRole('row').filter({ has: page.getByRole('rowheader', { name: server.jobName }) }).locator('.state');
    await state.filter({ hasText: 'Active' }).waitFor();
    await shot(page, 'schedules');
    await page.getByRole('button', { name: `Pause schedule ${server.jobName}` }).click();
    await state.filter({ hasText: 'Paused' }).waitFor();
    expect(await server.schedulePaused(server.jobName)).toBe(true);
    await page.getByRole('button', { name: `Resume schedule ${server.jobName}` }).click();
    await state.filter({ hasText: 'Active' }).waitFor();
    expect(await server.schedulePaused(server.jobName)).toBe(false);
    await page.getByRole('button', { name: 'Pause all' }).click();
    await state.filter({ hasText: 'Paused' }).waitFor();
    expect(await server.schedulePaused(server.jobName)).toBe(true);
    await page.getByRole('button', { name: 'Resume all' }).click();
    await state.filter({ hasText: 'Active' }).waitFor();
    expect(await server.schedulePaused(server.jobName)).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('works from the keyboard alone, with the focus always visible', async () => {
    const { context, page, errors } = await openTab();
    await page.goto(`${server.url}/runs?token=${encodeURIComponent(server.token)}`);
    await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();

    // The first Tab reaches Skip to content, which takes the focus to the main content.
    await page.keyboard.press('Tab');
    expect(await focused(page)).toMatchObject({ text: 'Skip to content', outline: true });
    await page.keyboard.press('Enter');
    expect(new URL(page.url()).hash).toBe('#main');

    // Back through the menu to Schedules, open it with Enter: its heading takes the focus.
    await tabTo(page, (f) => f.text === 'Schedules' && f.tag === 'A', { backwards: true });
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Schedules' }).waitFor();
    await expect.poll(async () => await focused(page)).toMatchObject({ tag: 'H1', text: 'Schedules' });

    // Pause a schedule with Enter and resume it with Space: the button keeps the focus.
    await tabTo(page, (f) => f.label === `Pause schedule ${server.jobName}`);
    await page.keyboard.press('Enter');
    await expect.poll(async () => (await focused(page)).label).toBe(`Resume schedule ${server.jobName}`);
    expect(await server.schedulePaused(server.jobName)).toBe(true);
    await page.keyboard.press('Space');
    await expect.poll(async () => (await focused(page)).label).toBe(`Pause schedule ${server.jobName}`);
    expect(await server.schedulePaused(server.jobName)).toBe(false);

    // Back up from the keyboard: menu, radio, select, buttons.
    await page.keyboard.press('Shift+Tab');
    await tabTo(page, (f) => f.text === 'Back up' && f.tag === 'A', { backwards: true });
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Back up now' }).waitFor();
    await tabTo(page, (f) => f.text === 'Estimate size');
    await page.keyboard.press('Enter');
    await expect.poll(async () => await focused(page)).toMatchObject({ tag: 'H2', text: 'Size estimate' });
    await tabTo(page, (f) => f.text === 'Start backup');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/runs\/[^/]+$/);
    await page.getByRole('status').filter({ hasText: 'Status:' }).filter({ hasText: /Succeeded|Failed|Aborted/ }).waitFor({ timeout: 60_000 });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('reads at 200 % zoom without scrolling sideways', async () => {
    // 200 % zoom of a 1280-pixel window lays the page out in 640 CSS pixels.
    const { context, page, errors } = await openTab({ width: 640, height: 900 });
    await page.goto(`${server.url}/runs?token=${encodeURIComponent(server.token)}`);
    for (const path of ['/runs', '/backup', '/schedules', '/history', '/snapshots', '/restore']) {
      await page.goto(`${server.url}${path}`);
      await page.getByRole('heading', { level: 1 }).waitFor();
      await page.waitForLoadState('networkidle');
      const [scrollWidth, innerWidth] = await page.evaluate<[number, number]>('[document.documentElement.scrollWidth, window.innerWidth]');
      expect(scrollWidth, `${path} is wider than the window`).toBeLessThanOrEqual(innerWidth);
    }
    await shot(page, 'zoom-200-history');
    expect(errors).toEqual([]);
    await context.close();
  });

  afterAll(async () => {
    // The screenshots the docs show, refreshed when the run passed.
    if (process.env.CAIRN_UPDATE_DOC_IMAGES !== '1') return;
    const images = fileURLToPath(new URL('../../../docs/images/', import.meta.url));
    await mkdir(images, { recursive: true });
    for (const name of ['sign-in', 'runs', 'run', 'backup', 'schedules', 'history', 'snapshots', 'tree', 'diff', 'restore']) {
      if (existsSync(`${ARTIFACTS}${name}.png`)) await copyFile(`${ARTIFACTS}${name}.png`, `${images}dashboard-${name}.png`);
    }
  });
});

interface Focused { tag: string; text: string; label: string; outline: boolean }

/** The focused element, read in the page (the test's own types know no DOM, hence the script as text). */
async function focused(page: Page): Promise<Focused> {
  return page.evaluate<Focused>(`(() => {
    const element = document.activeElement;
    if (!element || element === document.body) return { tag: 'BODY', text: '', label: '', outline: false };
    const style = getComputedStyle(element);
    return {
      tag: element.tagName,
      text: (element.textContent ?? '').trim(),
      label: element.getAttribute('aria-label') ?? '',
      outline: style.outlineStyle !== 'none' && Number.parseFloat(style.outlineWidth) >= 2,
    };
  })()`);
}

/** Presses Tab (or Shift+Tab) until the focused element matches, checking that each stop shows its focus. */
async function tabTo(page: Page, want: (focus: Focused) => boolean, options: { backwards?: boolean } = {}): Promise<void> {
  for (let step = 0; step < 60; step += 1) {
    await page.keyboard.press(options.backwards ? 'Shift+Tab' : 'Tab');
    const focus = await focused(page);
    if (focus.tag !== 'BODY' && focus.tag !== 'H1' && focus.tag !== 'H2') expect(focus.outline, `no visible focus on ${focus.tag} "${focus.text}"`).toBe(true);
    if (want(focus)) return;
  }
  throw new Error('the element was not reached with the keyboard in 60 steps');
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
