// Browser smoke test of the Django admin and the API docs against a running server (see .ci/browser-smoke).
//
//   BASE_URL=http://127.0.0.1:8767 node admin-smoke.mjs
//
// Signs in as the demo superuser, opens every changelist the admin index links to (with a search and
// a list filter), adds a lead through the autocomplete widgets and waits for Swagger UI to render.
// Fails on any console error, page error, failed request, response >= 400 or request leaving the app.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

const BASE_URL = (process.env.BASE_URL ?? 'http://127.0.0.1:8767').replace(/\/$/, '');
const ORIGIN = new URL(BASE_URL).origin;
const ARTIFACTS = new URL('./artifacts/', import.meta.url);

const problems = [];
let step = 'start';
const problem = (text) => problems.push(`[${step}] ${text}`);

let shots = 0;
async function screenshot(page, name, { fullPage = true } = {}) {
  const file = `${String(++shots).padStart(2, '0')}-${name.replace(/[^\w-]+/g, '-')}.png`;
  await page.screenshot({ path: new URL(file, ARTIFACTS).pathname, fullPage });
}

// Pick `choice` in the select2 autocomplete of the admin field `field`: what a person does with the mouse.
async function autocomplete(page, field, term, choice) {
  await page.click(`#id_${field} + .select2-container .select2-selection`);
  await page.fill('.select2-container--open .select2-search__field', term);
  // Results arrive from /admin/autocomplete/; the option is clickable once they did. Options of
  // per-organization records end with " · <organization>", so the choice matches their start.
  await page.click(`.select2-results__option:not(.loading-results) >> text=${choice}`);
  const picked = await page.textContent(`#select2-id_${field}-container`);
  if (!picked.includes(choice)) throw new Error(`${field}: picked "${picked.trim()}", wanted "${choice}"`);
}

async function signIn(page) {
  step = 'sign in';
  await page.goto(`${BASE_URL}/admin/login/?next=/admin/`);
  await page.fill('#id_username', 'admin@crm.com');
  await page.fill('#id_password', 'admin123');
  await screenshot(page, 'login');
  await Promise.all([page.waitForURL(`${BASE_URL}/admin/`), page.click('input[type=submit]')]);
  await screenshot(page, 'admin-index');
}

// Every changelist linked from the admin index, discovered rather than listed, so a new model is covered.
async function changelists(page) {
  const hrefs = await page.$$eval('#content-main th[scope=row] a', (links) => links.map((a) => a.href));
  if (hrefs.length === 0) throw new Error('the admin index links to no changelist');
  return [...new Set(hrefs)];
}

async function browseChangelist(page, url) {
  const name = new URL(url).pathname.split('/').filter(Boolean).slice(1).join('-');
  step = `changelist ${name}`;
  await page.goto(url);
  await page.waitForSelector('#changelist');
  await screenshot(page, name);

  if (await page.$('#searchbar')) {
    await page.fill('#searchbar', 'a');
    await Promise.all([page.waitForURL(/[?&]q=a/), page.press('#searchbar', 'Enter')]);
    await page.waitForSelector('#changelist');
    await screenshot(page, `${name}-search`);
  }
  // The first choice that isn't already selected ("All" is, at first), on top of the search.
  const filter = await page.$('#changelist-filter li:not(.selected) a');
  if (filter) {
    const href = await filter.getAttribute('href');
    await Promise.all([page.waitForURL((u) => u.search === new URL(href, page.url()).search), filter.click()]);
    await page.waitForSelector('#changelist');
    await screenshot(page, `${name}-filter`);
  }
}

// The organization first: the other autocompletes may come to offer only that organization's records.
async function addLead(page) {
  step = 'add lead';
  const firstName = `Smoke${Date.now()}`;
  await page.goto(`${BASE_URL}/admin/crmApp/lead/add/`);
  await autocomplete(page, 'organization', 'Acme', 'Acme Corporation');
  await page.fill('#id_first_name', firstName);
  // Sam Carter (rep@crm.com) is the demo's sales rep, an employee of Acme Corporation only.
  await autocomplete(page, 'assigned_to', 'rep@crm.com', 'Sam Carter');
  await screenshot(page, 'lead-add');
  await Promise.all([page.waitForNavigation(), page.click('input[name=_save]')]);
  await screenshot(page, 'lead-saved');

  const errors = await page.$$eval('.errornote, .errorlist', (nodes) => nodes.map((n) => n.textContent.trim()));
  if (errors.length) throw new Error(`the add form was refused: ${errors.join(' | ')}`);
  if (new URL(page.url()).pathname !== '/admin/crmApp/lead/') throw new Error(`landed on ${page.url()}`);
  const message = (await page.textContent('.messagelist .success')) ?? '';
  if (!message.includes('was added successfully') || !message.includes(firstName)) {
    throw new Error(`unexpected success message: "${message.trim()}"`);
  }
}

async function apiDocs(page) {
  step = 'api docs';
  await page.goto(`${BASE_URL}/api/docs/`);
  await page.waitForSelector('.swagger-ui .opblock', { state: 'visible' });
  const operations = await page.locator('.swagger-ui .opblock').count();
  if (operations < 10) throw new Error(`Swagger UI shows only ${operations} operations`);
  await screenshot(page, 'api-docs', { fullPage: false }); // the whole list is ~7000 px tall
}

await rm(ARTIFACTS, { recursive: true, force: true }); // only this run's screenshots
await mkdir(ARTIFACTS, { recursive: true });
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium', // Debian's package; Playwright's own builds can't be downloaded here
  // Playwright gives each launch a fresh temporary profile; these keep Chromium off the network
  // (no update, sync or field-trial calls, which fail here and fill the log).
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
let page;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(15_000);
  context.on('console', (msg) => {
    if (msg.type() === 'error') problem(`console error: ${msg.text()} (${msg.location().url})`);
  });
  context.on('weberror', (error) => problem(`page error: ${error.error().message}`));
  context.on('request', (request) => {
    // Offline by design: every page, script, style and font comes from the app itself.
    const url = new URL(request.url());
    if (/^https?:$/.test(url.protocol) && url.origin !== ORIGIN) problem(`request leaves the app: ${request.url()}`);
  });
  context.on('requestfailed', (request) => {
    const error = request.failure()?.errorText;
    // Select2 aborts a lookup that a newer keystroke made stale; that is the widget working, not failing.
    if (error === 'net::ERR_ABORTED' && request.url().includes('/admin/autocomplete/')) return;
    problem(`request failed: ${request.method()} ${request.url()}: ${error}`);
  });
  context.on('response', (response) => {
    if (response.status() >= 400) {
      problem(`HTTP ${response.status()}: ${response.request().method()} ${response.url()}`);
    }
  });

  page = await context.newPage();
  await signIn(page);
  for (const url of await changelists(page)) await browseChangelist(page, url);
  await addLead(page);
  await apiDocs(page);
} catch (error) {
  // Playwright's message, and the first line of its call log (what it was waiting for).
  const message = error.message.replace(/\x1b\[\d+m/g, '').replace(/\nCall log:\n\s*/, ' ');
  problem(message.split('\n')[0]);
  await screenshot(page, 'failure').catch(() => {});
} finally {
  await browser.close();
}

const report = problems.length ? `${problems.length} problem(s):\n${problems.join('\n')}\n` : 'no problems\n';
await writeFile(new URL('report.txt', ARTIFACTS), report);
if (problems.length) {
  console.error(`Browser smoke test FAILED, ${report}Screenshots and report: e2e/artifacts/`);
  process.exit(1);
}
console.log(`Browser smoke test passed (${shots} screenshots in e2e/artifacts/).`);
