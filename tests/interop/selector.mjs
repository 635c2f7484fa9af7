// The identity-provider selector in a real browser (Debian's chromium, headless, driven by playwright-core): the
// demo RP's "Choose how to sign in" → the hub's /select-accounts page → "Bank A" → the RP's initiate_login_uri
// (third-party initiated login) → Bank A's own login and consent → back at the RP, signed in by Bank A with a
// JARM response. Then, signed out at the RP, "Choose how to sign in" again: the choice is remembered (the
// selector answers at once) and the browser is back at the RP. Screenshots: the selector, the RP.
//
// Env: RP_URL, BANK, BANK_PASSWORD, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR.
import { check, env, launchChromium } from './lib.mjs';

const shots = env('SCREENSHOT_DIR');
const context = await launchChromium();
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  const selector = [];
  page.on('response', (r) => {
    const u = new URL(r.url());
    // The selector asked (not a choice made on its page).
    if (u.pathname === '/select-accounts' && !u.searchParams.has('idp_id')) selector.push(r.status());
  });
  const step = async (what, f) => {
    try {
      return await f();
    } catch (e) {
      await page.screenshot({ path: `${shots}/selector-failure.png`, fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${page.url()}: ${e.message}\n${(await page.content()).slice(0, 1200)}\nconsole: ${console_.join(' | ')}`);
    }
  };
  await step('open the RP', () => page.goto(env('RP_URL')));
  await step('choose how to sign in', () => page.click('#choose'));
  await step('reach the selector', () => page.waitForSelector('#idp-bank-a'));
  await page.screenshot({ path: `${shots}/selector.png`, fullPage: true });
  await step('pick Bank A', () => page.click('#idp-bank-a'));
  await step("reach the bank's login form", () => page.waitForSelector('#username'));
  check(page.url().startsWith(env('BANK')), `at the bank (${page.url()})`);
  await page.fill('#username', 'demo');
  await page.fill('#password', env('BANK_PASSWORD'));
  await step('sign in at the bank', () => page.click('#signin'));
  await step("reach the bank's consent page", () => page.waitForSelector('#allow'));
  await step('allow', () => page.click('#allow'));
  await step('land on the claims page', () => page.waitForSelector('#user'));
  const claims = JSON.parse(await page.textContent('#claims'));
  await page.screenshot({ path: `${shots}/selector-rp.png`, fullPage: true });
  check(claims.iss === env('BANK'), `signed in by the bank (${claims.iss})`);
  check(JSON.stringify(selector) === '[200]', `the selector page was shown once (${selector})`);

  // Signed out at the RP: the remembered choice takes the browser through at once.
  await step('sign out', () => page.click('button:has-text("Sign out")'));
  await step('choose again', () => page.click('#choose'));
  await step('land on the claims page again', () => page.waitForSelector('#user'));
  const again = JSON.parse(await page.textContent('#claims'));
  check(again.sub === claims.sub, 'the same user');
  check(JSON.stringify(selector) === '[200,303]', `the choice was remembered (${selector})`);
  console.log(JSON.stringify({ sub: claims.sub, iss: claims.iss, selector }));
  console.log('selector browser: ok');
} finally {
  await context.close();
}
