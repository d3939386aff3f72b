// Drives a running JupyterLab with Debian's chromium (playwright-core, no downloaded
// browser): opens the "HAI tasks" sidebar, finds a chain submitted from the CLI, follows
// its log, stops it with the button, and saves screenshots (light and dark theme).
//
//   LAB_URL=http://127.0.0.1:8888/ LAB_TOKEN=... CHAIN=name OUT_DIR=test-artifacts \
//     node tests/browser/lab_sidebar.mjs
//
// Prints one JSON line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { launch, stepper } from './chromium.mjs';

const env = process.env;
const labUrl = env.LAB_URL;
const token = env.LAB_TOKEN;
const chainName = env.CHAIN;
const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
const stepTimeout = Number(env.STEP_TIMEOUT_MS || 30000);

const result = { ok: false, steps: [], console_errors: [], screenshots: [] };
const step = stepper(result, `lab_sidebar`);

const { browser } = await launch();
const page = await browser.newPage({ viewport: { width: 1440, height: 860 } });
page.setDefaultTimeout(stepTimeout);
page.on('console', msg => {
  if (msg.type() === 'error') {
    result.console_errors.push(msg.text());
  }
});
page.on('pageerror', error => result.console_errors.push(String(error)));

const row = `.hai-Chain[data-chain-name="${chainName}"]`;
try {
  step('open lab');
  await page.goto(`${labUrl}lab?token=${token}`, { waitUntil: 'domcontentloaded' });
  await page.waitForSelector('#jupyterlab-splash', { state: 'detached', timeout: 60000 });

  step('open the HAI tasks sidebar');
  await page.click('.jp-SideBar .lm-TabBar-tab[data-id="hai-tasks"]');
  await page.waitForSelector('#hai-tasks .hai-Sidebar-header h2:text("HAI tasks")');

  step('see the chain submitted from the CLI');
  await page.waitForSelector(`${row}[data-state="running"]`);
  result.row_text = (await page.textContent(`${row} .hai-Chain-row`)).trim();

  step('expand it and open the log of rank 0');
  await page.click(`${row} .hai-Chain-row`);
  await page.click(`${row} .hai-Rank[data-rank="0"] .hai-LogsButton`);
  const lines = '.hai-LogViewer .hai-LogLine';
  await page.waitForSelector(lines);
  const before = await page.locator(lines).count();
  step('see followed lines appear');
  await page.waitForFunction(
    ([sel, n]) => document.querySelectorAll(sel).length >= n + 5,
    [lines, before],
    { timeout: stepTimeout }
  );
  result.lines_before = before;
  result.lines_after = await page.locator(lines).count();
  result.last_line = (await page.locator(`${lines} .hai-LogLine-text`).last().textContent()).trim();
  const running = path.join(outDir, 'lab-sidebar-running.png');
  await page.screenshot({ path: running });
  result.screenshots.push(running);

  step('stop it with the button');
  await page.click(`${row} .hai-StopButton`);
  await page.click('.jp-Dialog .jp-Dialog-button.jp-mod-accept');
  await page.waitForSelector(`${row}[data-state="finished"][data-stop-code="stopped_by_user"]`);
  result.final_badge = (await page.textContent(`${row} .hai-State`)).trim();
  await page.waitForSelector('.hai-LogViewer[data-done="true"]');
  result.log_state = (await page.textContent('.hai-LogViewer-state')).trim();
  const stopped = path.join(outDir, 'lab-sidebar.png');
  await page.screenshot({ path: stopped });
  result.screenshots.push(stopped);

  step('submit form: the validation message of the scheduler next to the field');
  await page.click('details.hai-Submit > summary');
  await page.fill('#hai-submit-path', env.SCRIPT || 'ticker.py');
  await page.fill('#hai-submit-name', 'from-lab');
  await page.fill('#hai-submit-nodes', '9');
  await page.click('.hai-Submit-button');
  const nodesField = '.hai-Field[data-field="nodes"].hai-mod-invalid .hai-Field-error';
  await page.waitForSelector(nodesField);
  result.nodes_error = (await page.textContent(nodesField)).trim();
  const invalid = path.join(outDir, 'lab-sidebar-validation.png');
  await page.screenshot({ path: invalid });
  result.screenshots.push(invalid);
  await page.fill('#hai-submit-nodes', '1');
  await page.click('.hai-Submit-button');
  await page.waitForSelector('.hai-Submit-message.hai-mod-ok');
  result.submit_message = (await page.textContent('.hai-Submit-message')).trim();
  await page.waitForSelector('.hai-Chain[data-chain-name="from-lab"]');

  step('dark theme');
  await page.evaluate(() =>
    window.jupyterapp.commands.execute('apputils:change-theme', { theme: 'JupyterLab Dark' })
  );
  await page.waitForFunction(() => document.body.dataset.jpThemeLight === 'false');
  await page.waitForTimeout(500);
  result.dark_sidebar_background = await page.evaluate(
    () => getComputedStyle(document.querySelector('#hai-tasks')).backgroundColor
  );
  const dark = path.join(outDir, 'lab-sidebar-dark.png');
  await page.screenshot({ path: dark });
  result.screenshots.push(dark);
  result.ok = true;
} catch (error) {
  result.error = String(error && error.message ? error.message : error);
  const failed = path.join(outDir, 'lab-sidebar-failure.png');
  await page.screenshot({ path: failed }).catch(() => undefined);
  result.screenshots.push(failed);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(result) + '\n');
process.exit(result.ok ? 0 : 1);
