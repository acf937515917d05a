/**
 * GraphiQL in a real browser (Debian's Chromium driven by playwright-core), offline: every
 * request outside the gateway is refused and recorded. It opens on the README's example query
 * with the Authorization hint, runs it with a token set in the Headers tab, shows the answer,
 * and keeps the token out of the browser's storage.
 *
 * Skipped, saying why, only where no Chromium can be had (.ci/run installs Debian's `chromium`;
 * CHROMIUM_PATH points elsewhere).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { README_EXAMPLE_QUERY } from '../../src/http/graphiql.js';
import { startTestGateway, type TestGateway } from '../helpers/gateway.js';
import type { SeededOrg } from '../helpers/world.js';

const CHROMIUM = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].find(
  (candidate): candidate is string => !!candidate && fs.existsSync(candidate),
);
const SKIP_REASON = 'no Chromium found (install Debian’s chromium, as .ci/run does, or set CHROMIUM_PATH)';
if (!CHROMIUM) console.warn(`graphiql-browser: skipped: ${SKIP_REASON}`);

it('the page’s example query is the README’s, verbatim', () => {
  const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  expect(readme).toContain(README_EXAMPLE_QUERY);
});

describe.skipIf(!CHROMIUM)(`GraphiQL in Chromium, offline${CHROMIUM ? '' : ` — skipped: ${SKIP_REASON}`}`, () => {
  let t: TestGateway;
  let org: SeededOrg;
  let token: string;
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const outside: string[] = [];

  beforeAll(async () => {
    t = await startTestGateway();
    org = await t.world.organization('Browser Co', { workflows: 2 });
    token = await t.world.token(org.members.owner);
    profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM!,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    // Offline: only the gateway (and the page's own blob: workers) may be reached.
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(`${t.gateway.url}/`) || url.startsWith('blob:') || url.startsWith('data:')) return route.continue();
      outside.push(url);
      return route.abort();
    });
    page = await context.newPage();
  }, 120_000);

  afterAll(async () => {
    await context?.close();
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    await t?.stop();
  });

  // Monaco renders spaces as no-break spaces.
  const textOf = async (selector: string) => (await page.locator(selector).first().innerText()).replace(/\u00a0/g, ' ');
  const queryEditorText = () => textOf('.graphiql-query-editor');

  it('opens on the README’s example query with a visible hint about the Authorization header', async () => {
    await page.goto(t.gateway.graphqlUrl);
    await expect.poll(queryEditorText, { timeout: 30_000 }).toContain('viewer { user { name } organization { name }');
    const text = await queryEditorText();
    expect(text).toMatch(/Authorization/);
    expect(text).toMatch(/Bearer <token>/);
    expect(text).not.toMatch(/Welcome to/);
    // The Headers tab is open, where the hint points.
    await expect.poll(() => page.locator('.graphiql-editor-tool').first().isVisible()).toBe(true);
  }, 60_000);

  it('runs the query with the token set in the Headers tab and shows the answer', async () => {
    const headers = page.locator('.graphiql-editor-tool .graphiql-editor').last();
    await headers.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await page.keyboard.insertText(`{"Authorization": "Bearer ${token}"}`);
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(() => textOf('.graphiql-response'), { timeout: 30_000 }).toContain('Browser Co');
    const answer = await textOf('.graphiql-response');
    expect(answer).toContain(org.members.owner.name);
    expect(answer).toMatch(/"role": \{\s*"name": "Owner"/);
    expect(answer).not.toMatch(/"errors"/);
  }, 60_000);

  it('keeps the token out of the browser’s storage, so a reload does not bring it back', async () => {
    const stored = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage } }));
    expect(stored).not.toContain(token);
    expect(stored).not.toContain(token.slice(-20));
    await page.reload();
    await expect.poll(queryEditorText, { timeout: 30_000 }).toContain('viewer {');
    expect(await textOf('.graphiql-editor-tool')).not.toContain(token.slice(-20));
  }, 60_000);

  it('reached nothing outside the gateway', () => {
    expect(outside).toEqual([]);
  });
});
