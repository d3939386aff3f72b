// A haienv env created while JupyterLab is open appears in the launcher without a reload.
//
//   LAB_URL=... LAB_TOKEN=... KERNEL_NAME="demo" OUT_DIR=test-artifacts node tests/browser/lab_kernels.mjs
//
// Prints "LOADED" once the launcher shows (the test then creates the env), then one JSON
// line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { env, launch, stepper } from './chromium.mjs';

const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
const result = { ok: false, steps: [], screenshots: [] };
const step = stepper(result, 'lab_kernels');
const { browser } = await launch();
const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
page.setDefaultTimeout(Number(env.STEP_TIMEOUT_MS || 30000));
const card = `.jp-LauncherCard[title*="${env.KERNEL_NAME}"], .jp-LauncherCard:has-text("${env.KERNEL_NAME}")`;
try {
  step('open lab');
  await page.goto(`${env.LAB_URL}lab?token=${env.LAB_TOKEN}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60000 });
  await page.waitForSelector('.jp-Launcher');
  result.before = await page.locator(card).count();
  process.stdout.write('LOADED\n');
  step('wait for the new kernel in the launcher');
  const t0 = Date.now();
  await page.waitForSelector(card, { timeout: 30000 });
  result.seconds = (Date.now() - t0) / 1000;
  result.reloaded = false;
  const shot = path.join(outDir, 'lab-new-kernel.png');
  await page.screenshot({ path: shot });
  result.screenshots.push(shot);
  result.ok = true;
} catch (error) {
  result.error = String(error && error.message ? error.message : error);
  await page.screenshot({ path: path.join(outDir, 'lab-new-kernel-failure.png') }).catch(() => {});
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
