// Identities on the hub, in Debian's chromium (playwright-core), as people would use it.
//
//   PHASE=signup: bob cannot log in as alice; a sign-up under alice's name is refused;
//     newbie signs up, is told to wait for approval, the admin approves on the Users page,
//     newbie logs in and spawns mig-gpu from the spawn form; five wrong passwords for
//     carol lock her name (her right password is refused, with the wait named).
//   PHASE=disable: the admin disables newbie on the Users page; newbie's open session
//     is sent back to the login page.
//
// Env: HUB_URL, ADMIN, ADMIN_PASSWORD, BOB_PASSWORD, CAROL_PASSWORD, NEWBIE_PASSWORD, OUT_DIR.
// Prints one JSON line with what it saw; exits non-zero when a step failed.
import path from 'node:path';
import { launch, stepper } from './chromium.mjs';

const env = process.env;
const hub = env.HUB_URL;
const outDir = path.resolve(env.OUT_DIR || 'test-artifacts');
const result = { ok: false, phase: env.PHASE, steps: [] };
const step = stepper(result, `hub_identity`);

async function login(page, user, password) {
  await page.goto(`${hub}/hub/login`);
  await page.fill('#username_input', user);
  await page.fill('#password_input', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#login_submit')]);
  await page.waitForLoadState('load');
  const errors = page.locator('.login_error');
  const error = (await errors.count()) ? (await errors.first().textContent()).trim() : null;
  return { url: page.url(), error };
}

async function signup(page, user, password) {
  await page.goto(`${hub}/hub/signup`);
  await page.fill('#username_input', user);
  await page.fill('#password_input', password);
  await page.fill('#password_confirmation_input', password);
  await Promise.all([page.waitForLoadState('load'), page.click('#signup_submit')]);
  return (await page.locator('.alert').first().textContent()).trim();
}

async function usersPageAction(page, user, action) {
  await page.goto(`${hub}/hub/home`);
  await page.click('#hai-users-link');
  await page.waitForSelector(`#user-${user}`);
  await Promise.all([
    page.waitForLoadState('load'),
    page.click(`#user-${user} button[value="${action}"]`)
  ]);
  await page.waitForSelector(`#user-${user}`);
  return (await page.textContent(`#user-${user} .hai-approved`)).trim();
}

async function signupPhase(browser) {
  const people = await browser.newContext();
  const page = await people.newPage();
  step('bob tries alice with his own password');
  result.bob_as_alice = await login(page, 'alice', env.BOB_PASSWORD);
  step('a sign-up under an existing name');
  result.signup_taken = await signup(page, 'alice', 'Another-pass-123');
  step('newbie signs up');
  result.signup_newbie = await signup(page, 'newbie', env.NEWBIE_PASSWORD);
  step('newbie before approval');
  result.newbie_unapproved = await login(page, 'newbie', env.NEWBIE_PASSWORD);

  step('the admin approves newbie on the Users page');
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  result.admin_login = await login(admin, env.ADMIN, env.ADMIN_PASSWORD);
  result.approved_cell = await usersPageAction(admin, 'newbie', 'approve');
  await admin.screenshot({ path: path.join(outDir, 'hub-users.png'), fullPage: true });

  step('newbie logs in and spawns mig-gpu');
  const newbieCtx = await browser.newContext();
  const newbie = await newbieCtx.newPage();
  result.newbie_login = await login(newbie, 'newbie', env.NEWBIE_PASSWORD);
  await newbie.goto(`${hub}/hub/spawn`);
  await newbie.check('input[name="profile"][value="mig-gpu"]');
  await Promise.all([
    newbie.waitForURL(/\/user\/newbie\//, { timeout: 90000 }),
    newbie.click('#spawn_form input[type="submit"], #spawn_form button[type="submit"]')
  ]);
  result.newbie_server_url = newbie.url();
  await newbieCtx.storageState({ path: path.join(outDir, 'newbie-state.json') });

  step('five wrong passwords lock carol');
  result.carol_wrong = [];
  for (let i = 0; i < 5; i++) {
    result.carol_wrong.push((await login(page, 'carol', `wrong-${i}-password`)).error);
  }
  result.carol_right_after_lock = await login(page, 'carol', env.CAROL_PASSWORD);
  await page.screenshot({ path: path.join(outDir, 'hub-login-locked.png') });
}

async function disablePhase(browser) {
  step('the admin disables newbie on the Users page');
  const adminCtx = await browser.newContext();
  const admin = await adminCtx.newPage();
  result.admin_login = await login(admin, env.ADMIN, env.ADMIN_PASSWORD);
  result.disabled_cell = await usersPageAction(admin, 'newbie', 'disable');
  step("newbie's open session");
  const newbieCtx = await browser.newContext({
    storageState: path.join(outDir, 'newbie-state.json')
  });
  const newbie = await newbieCtx.newPage();
  await newbie.goto(`${hub}/hub/home`);
  result.newbie_home_url = newbie.url();
  step('newbie logs in again');
  result.newbie_login_again = await login(newbie, 'newbie', env.NEWBIE_PASSWORD);
}

const { browser } = await launch();
try {
  await (env.PHASE === 'disable' ? disablePhase(browser) : signupPhase(browser));
  result.ok = true;
} catch (err) {
  result.error = String(err);
} finally {
  await browser.close();
  console.log(JSON.stringify(result));
  process.exit(result.ok ? 0 : 1);
}
