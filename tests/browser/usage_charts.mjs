// The 7-day GPU-hours chart where people see it, in Debian's chromium (playwright-core):
// the "HAI tasks" sidebar of a running JupyterLab, then the hub's home page after logging
// in through the form. Reads each chart's aria-label, <title> and bars (and the GPU time
// in the details of chain $CHAIN), and saves
// screenshots (lab-usage-chart.png, hub-home-usage.png) in OUT_DIR.
//
//   LAB_URL=http://127.0.0.1:8888/ LAB_TOKEN=... HUB_URL=http://127.0.0.1:8000 \
//     HUB_USER=alice HUB_PASSWORD=... OUT_DIR=test-artifacts node tests/browser/usage_charts.mjs
//
// Prints one JSON line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { launch, stepper } from './chromium.mjs';

const env = process.env;
const result = { ok: false, steps: [], console_errors: [], screenshots: [] };
const step = stepper(result, 'usage_charts');

/** What a chart shows: its words and every bar's day, kind and number. */
async function readChart(page, selector) {
  return page.$eval(selector, svg => ({
    tag: svg.tagName.toLowerCase(),
    role: svg.getAttribute('role'),
    label: svg.getAttribute('aria-label'),
    title: svg.querySelector(':scope > title')?.textContent ?? null,
    text: svg.textContent,
    bars: [...svg.querySelectorAll('g[data-day] rect')].map(r => ({
      day: r.parentElement.getAttribute('data-day'),
      kind: r.getAttribute('class'),
      gpu_hours: Number(r.getAttribute('data-gpu-hours')),
      height: Number(r.getAttribute('height'))
    }))
  }));
}

async function shot(page, name, selector) {
  const file = path.join(env.OUT_DIR || 'test-artifacts', name);
  await page.locator(selector).screenshot({ path: file });
  result.screenshots.push(file);
}

const { browser } = await launch();
const page = await browser.newPage({ viewport: { width: 1440, height: 860 } });
page.setDefaultTimeout(Number(env.STEP_TIMEOUT_MS || 30000));
page.on('console', msg => {
  if (msg.type() === 'error') {
    result.console_errors.push(msg.text());
  }
});
try {
  step('open lab and the HAI tasks sidebar');
  await page.goto(`${env.LAB_URL}lab?token=${env.LAB_TOKEN}`, {
    waitUntil: 'domcontentloaded'
  });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60000 });
  await page.click('.jp-SideBar .lm-TabBar-tab[data-id="hai-tasks"]');
  step('the sidebar chart');
  await page.waitForSelector('#hai-tasks .hai-Usage svg.hai-usage-chart');
  result.lab = await readChart(page, '#hai-tasks .hai-Usage svg.hai-usage-chart');
  if (env.CHAIN) {
    step('the GPU time in the chain details');
    const row = `.hai-Chain[data-chain-name="${env.CHAIN}"]`;
    await page.click(`${row} .hai-Chain-row`);
    result.chain_gpu_time = (await page.textContent(`${row} .hai-Chain-gpuTime`)).trim();
  }
  await shot(page, 'lab-usage-chart.png', '#hai-tasks');

  step('log in to the hub');
  await page.goto(`${env.HUB_URL}/hub/login`);
  await page.fill('#username_input', env.HUB_USER);
  await page.fill('#password_input', env.HUB_PASSWORD);
  await page.click('#login_submit');
  await page.waitForURL(/\/(hub|user)\//);
  step('the home page chart');
  await page.goto(`${env.HUB_URL}/hub/home`);
  await page.waitForSelector('#hai-usage svg#hai-usage-chart');
  result.hub = await readChart(page, '#hai-usage svg#hai-usage-chart');
  await shot(page, 'hub-home-usage.png', 'body');
  result.ok = true;
} catch (err) {
  result.error = String(err);
  const failed = path.join(env.OUT_DIR || 'test-artifacts', 'usage-charts-failed.png');
  await page.screenshot({ path: failed }).catch(() => {});
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
