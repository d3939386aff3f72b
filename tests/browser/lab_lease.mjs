// The lease item in JupyterLab's status bar, in Debian's chromium (playwright-core).
//
//   MODE=mig  : a mig-gpu server: "Lease 9m 58s", click Renew, see "Lease renewed".
//   MODE=spot : a spot server being reclaimed: the item turns red ("Spot reclaim in ...")
//               and a warning notification says to save the work.
//
//   LAB_URL=... LAB_TOKEN=... MODE=mig OUT_DIR=test-artifacts node tests/browser/lab_lease.mjs
//
// Prints one JSON line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { launch, stepper } from './chromium.mjs';

const env = process.env;
const mode = env.MODE || 'mig';
const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
const result = { ok: false, mode, steps: [], screenshots: [] };
const step = stepper(result, `lab_lease ${mode}`);

const { browser } = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
page.setDefaultTimeout(Number(env.STEP_TIMEOUT_MS || 30000));
const item = '.hai-LeaseStatus';
const toast = text => `.Toastify__toast:has-text("${text}")`;
try {
  step('open lab');
  await page.goto(`${env.LAB_URL}lab?token=${env.LAB_TOKEN}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60000 });
  if (mode === 'mig') {
    step('the lease shows its time left');
    await page.waitForSelector(`${item}:has-text("Lease ")`);
    result.text = (await page.textContent(`${item} .hai-LeaseStatus-text`)).trim();
    result.title = await page.getAttribute(item, 'title');
    step('renew');
    await page.click(`${item} .hai-LeaseStatus-renew`);
    await page.waitForSelector(toast('Lease renewed'));
    result.toast = (await page.textContent(toast('Lease renewed'))).trim();
  } else {
    step('the reclaim warning');
    await page.waitForSelector(`${item}.hai-mod-danger:has-text("Spot reclaim in")`);
    result.text = (await page.textContent(`${item} .hai-LeaseStatus-text`)).trim();
    result.renew_visible = await page.isVisible(`${item} .hai-LeaseStatus-renew`);
    await page.waitForSelector(toast('will be reclaimed'));
    result.toast = (await page.textContent(toast('will be reclaimed'))).trim();
  }
  const shot = path.join(outDir, `lab-lease-${mode}.png`);
  await page.screenshot({ path: shot });
  result.screenshots.push(shot);
  result.ok = true;
} catch (error) {
  result.error = String(error && error.message ? error.message : error);
  const failed = path.join(outDir, `lab-lease-${mode}-failure.png`);
  await page.screenshot({ path: failed }).catch(() => undefined);
  result.screenshots.push(failed);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
