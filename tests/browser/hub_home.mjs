// The hub home page's dev-container card, in Debian's chromium (playwright-core):
// log in through the form, see the profile, node, GPUs and lease, click "Renew lease".
//
//   HUB_URL=http://127.0.0.1:8000 HUB_USER=alice HUB_PASSWORD=... OUT_DIR=test-artifacts \
//     node tests/browser/hub_home.mjs
//
// Prints one JSON line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { launch, stepper } from './chromium.mjs';

const env = process.env;
const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
const result = { ok: false, steps: [] };
const step = stepper(result, `hub_home`);

const { browser } = await launch();
const page = await browser.newPage({ viewport: { width: 1200, height: 700 } });
page.setDefaultTimeout(Number(env.STEP_TIMEOUT_MS || 30000));
try {
  step('log in');
  await page.goto(`${env.HUB_URL}/hub/login`);
  await page.fill('#username_input', env.HUB_USER);
  await page.fill('#password_input', env.HUB_PASSWORD);
  await page.click('#login_submit');
  await page.waitForURL(/\/(hub|user)\//);
  step('home page card');
  await page.goto(`${env.HUB_URL}/hub/home`);
  await page.waitForSelector('#hai-devserver:not([hidden])');
  result.profile = (await page.textContent('#hai-profile')).trim();
  result.gpus = (await page.textContent('#hai-gpus')).trim();
  result.lease_before = (await page.textContent('#hai-lease')).trim();
  step('renew');
  await page.click('#hai-renew');
  await page.waitForFunction(
    before => document.querySelector('#hai-lease').textContent.trim() !== before,
    result.lease_before
  );
  result.lease_after = (await page.textContent('#hai-lease')).trim();
  result.error_hidden = await page.isHidden('#hai-error');
  const shot = path.join(outDir, 'hub-home.png');
  await page.screenshot({ path: shot });
  result.screenshot = shot;
  result.ok = true;
} catch (err) {
  result.error = String(err);
  await page.screenshot({ path: path.join(outDir, 'hub-home-failed.png') }).catch(() => {});
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
