import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../support/cluster';
import { eventually } from '../support/eventually';
import { useMaydayWithSuperposition } from '../support/harness';
import { experimentId, type ExperimentSpec } from '../support/payloads';
import { testTools } from '../support/test-tools';
import { holdNewPods } from '../support/workloads';

const cluster = new Cluster();
const TOKEN = 'rollout-page-token-of-at-least-32-characters';
const auth = { authorization: `Bearer ${TOKEN}` };
/**
 * The screenshot README's "Watching a rollout" shows. A test run must not rewrite a tracked file, so it goes to
 * .cache/ unless UPDATE_SCREENSHOT=1 asks to refresh docs/rollout-page.png.
 */
const SCREENSHOT =
  process.env.UPDATE_SCREENSHOT === '1'
    ? resolve(__dirname, '../../docs/rollout-page.png')
    : resolve(__dirname, '../../.cache/rollout-page.png');

/**
 * The rollout page (/ui/) in a real browser (Debian's Chromium, driven by playwright-core), on a
 * Mayday that runs against the real API server, controllers and hollow nodes.
 */
describe('the rollout page, in Chromium', () => {
  const namespaces: Record<string, string> = {};
  let browser: Browser;
  let page: Page;
  /** Every URL the page asked for: all of them must be Mayday's own. */
  const requested: string[] = [];

  beforeAll(async () => {
    const { chromium: executablePath } = testTools();
    for (const name of ['running', 'failing']) namespaces[name] = await cluster.createNamespace(`page-${name}`);
    // --no-sandbox: the tests run as root (CI), where Chromium's sandbox refuses to start.
    browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'] });
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    page.on('request', (request) => requested.push(request.url()));
  }, 15 * 60_000);
  afterAll(async () => {
    await browser?.close();
  });
  const harness = useMaydayWithSuperposition(() => ({ WEBHOOK_TOKEN: TOKEN }));

  const card = (id: string) => page.locator(`[data-testid="experiment"][data-experiment-id="${id}"]`);
  const row = (id: string, variantId: string) => card(id).locator(`[data-testid="variant"][data-variant-id="${variantId}"]`);
  const text = async (locator: ReturnType<Page['locator']>) => ((await locator.textContent({ timeout: 5000 })) ?? '').trim();

  async function startedAndAvailable(key: string, service: string, traffic: number, metricsUrl?: string): Promise<ExperimentSpec> {
    const spec: ExperimentSpec = {
      id: experimentId(),
      context: { namespace: namespaces[key] },
      traffic,
      metricsUrl,
      lastModified: '2026-08-20T07:40:00.000001Z',
    };
    expect((await harness.deliver('ExperimentStarted', service, spec, auth)).status).toBe(200);
    await eventually(async () => {
      const view = (await harness.mayday.get(`/experiments/${spec.id}`, auth)).body;
      expect(view.variants[1]).toMatchObject({ weight: traffic, state: 'available' });
    }, 30_000);
    return spec;
  }

  it('is served by Mayday itself, with a strict Content-Security-Policy, and holds no data', async () => {
    const redirect = await fetch(`${harness.mayday.url}/ui`, { redirect: 'manual' });
    expect([redirect.status, redirect.headers.get('location')]).toEqual([302, 'ui/']);
    const index = await fetch(`${harness.mayday.url}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toContain('text/html');
    expect(index.headers.get('content-security-policy')).toContain("connect-src 'self'");
    expect(await index.text()).not.toMatch(/https?:\/\//);
    expect((await fetch(`${harness.mayday.url}/ui/app.js`)).headers.get('content-type')).toContain('javascript');
    expect((await fetch(`${harness.mayday.url}/ui/secrets.json`)).status).toBe(404);
    expect((await fetch(`${harness.mayday.url}/ui/..%2Fmain.js`)).status).toBe(404);
  });

  it('signs in with the token, shows a running experiment at its weight, and follows a ramp by itself', async () => {
    const spec = await startedAndAvailable('running', 'shop', 20, 'https://grafana.example.test/d/shop');
    const variant = `${spec.id}-test1`;

    await page.goto(`${harness.mayday.url}/ui`);
    await page.getByTestId('sign-in').waitFor();
    await page.getByTestId('token').fill('not-the-token');
    await page.getByTestId('sign-in-button').click();
    await eventually(async () => expect(await text(page.getByTestId('sign-in-error'))).toBe('The token was refused (401).'));

    await page.getByTestId('token').fill(TOKEN);
    await page.getByTestId('sign-in-button').click();
    await card(spec.id).waitFor();
    expect(await page.getByTestId('sign-in').isVisible()).toBe(false);
    // The token is kept for this tab only.
    expect(await page.evaluate("[sessionStorage.getItem('mayday.token'), localStorage.length]")).toEqual([TOKEN, 0]);

    expect(await text(card(spec.id).getByTestId('status'))).toBe('INPROGRESS');
    expect(await text(row(spec.id, variant).getByTestId('share'))).toBe('20 %');
    expect(await text(row(spec.id, `${spec.id}-control`).getByTestId('share'))).toBe('80 %');
    expect(await text(row(spec.id, variant).getByTestId('replicas'))).toBe('1 / 1');
    expect(await text(row(spec.id, variant).getByTestId('state'))).toBe('available');
    expect(await text(card(spec.id).getByTestId('main-selector'))).toBe(`Main Service shop selects app=shop-dep-${spec.id}-control`);
    expect(await card(spec.id).getByTestId('metrics-link').getAttribute('href')).toBe('https://grafana.example.test/d/shop');
    // The bar is drawn at the share (its width is set by the page's script).
    expect(
      await row(spec.id, variant)
        .locator('[data-testid="share-bar"] > span')
        .evaluate((bar) => bar.style.width),
    ).toBe('20%');
    expect(await card(spec.id).locator('[data-testid="weight-line"]').getAttribute('data-last-weight')).toBe('20');
    expect(
      await card(spec.id)
        .locator('[data-testid="transition"]')
        .evaluateAll((items) => items.map((item) => item.getAttribute('data-reason'))),
    ).toEqual(['WeightChanged', 'CanaryCreated']);

    // A ramp webhook arrives; the page shows it without being reloaded.
    const ramp = await harness.deliver(
      'ExperimentInprogress',
      'shop',
      { ...spec, traffic: 45, lastModified: '2026-08-20T07:41:00.000001Z' },
      auth,
    );
    expect(ramp.status).toBe(200);
    await eventually(async () => expect(await text(row(spec.id, variant).getByTestId('share'))).toBe('45 %'), 15_000);
    expect(await text(row(spec.id, `${spec.id}-control`).getByTestId('share'))).toBe('55 %');
    const line = card(spec.id).locator('[data-testid="weight-line"]');
    expect([await line.getAttribute('data-last-weight'), await line.getAttribute('data-steps')]).toEqual(['45', '3']);
    expect(await text(card(spec.id).locator('[data-testid="transition"]').first())).toContain('weight 20 -> 45');
  });

  it("shows a failed canary's reason, and filters by namespace", async () => {
    const spec = await startedAndAvailable('failing', 'cart', 30);
    const variant = `${spec.id}-test1`;
    // The canary's new pods cannot be scheduled: the controller reports its rollout past its deadline.
    await holdNewPods(cluster, namespaces.failing, `cart-dep-${variant}`, 2);

    await eventually(async () => expect(await text(row(spec.id, variant).getByTestId('state'))).toBe('failed'), 40_000);
    expect(await text(row(spec.id, variant).getByTestId('state-reason'))).toMatch(/^ProgressDeadlineExceeded/);
    // The state is read from the Deployment; the share from the route, which Mayday sets to 0 next.
    await eventually(async () => {
      expect(await text(row(spec.id, variant).getByTestId('share'))).toBe('0 %');
      expect(await card(spec.id).locator('[data-testid="weight-line"]').getAttribute('data-last-weight')).toBe('0');
      const failed = card(spec.id).locator('[data-testid="transition"][data-reason="CanaryFailed"]');
      expect(await text(failed)).toContain('taken out of traffic: ProgressDeadlineExceeded');
    });

    await page.getByTestId('filter-namespace').selectOption(namespaces.failing);
    await eventually(async () => expect(await page.locator('[data-testid="experiment"]').count()).toBe(1));
    await card(spec.id).waitFor();
    await page.getByTestId('filter-namespace').selectOption('');
    await eventually(async () => expect(await page.locator('[data-testid="experiment"]').count()).toBe(2));

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The token was kept for that tab only: another tab of the same browser asks for it; signing out forgets it.
    const otherTab = await page.context().newPage();
    await otherTab.goto(`${harness.mayday.url}/ui/`);
    await otherTab.getByTestId('sign-in').waitFor();
    expect(await otherTab.locator('[data-testid="experiment"]').count()).toBe(0);
    await otherTab.close();
    await page.locator('#sign-out').click();
    await page.getByTestId('sign-in').waitFor();
    expect(await page.evaluate("sessionStorage.getItem('mayday.token')")).toBeNull();
  });

  it('asked nothing of anyone but Mayday', () => {
    const origin = new URL(harness.mayday.url).origin;
    expect(requested.length).toBeGreaterThan(3);
    expect(requested.filter((url) => new URL(url).origin !== origin)).toEqual([]);
  });
});
