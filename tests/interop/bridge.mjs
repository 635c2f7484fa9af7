// The login bridge in a real browser (Debian's chromium, headless, driven by playwright-core): the demo RP
// (`portcullis-client serve`) → portcullis-provider's login page → "Continue with Example Shop" → the example
// authenticating website's own password form → the provider's consent page → back at the RP with the site's
// user: `amr` fed, the e-mail the site released. Screenshots: the site's form, the consent page, the RP.
//
// Env: RP_URL, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR.
import { check, env, launchChromium } from './lib.mjs';

const shots = env('SCREENSHOT_DIR');
const context = await launchChromium();
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  const step = async (what, f) => {
    try {
      return await f();
    } catch (e) {
      await page.screenshot({ path: `${shots}/bridge-failure.png`, fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${page.url()}: ${e.message}\n${(await page.content()).slice(0, 1200)}\nconsole: ${console_.join(' | ')}`);
    }
  };
  await step('open the RP', () => page.goto(env('RP_URL')));
  await step('click Sign in', () => page.click('#login'));
  await step('reach the provider login page', () => page.waitForSelector('#site-shop'));
  await step('continue with the shop', () => page.click('#site-shop'));
  await step('reach the shop form', () => page.waitForSelector('#shop-signin'));
  await page.fill('#username', 'shopper');
  await page.fill('#password', 'shopper-password');
  await page.screenshot({ path: `${shots}/bridge-site-login.png`, fullPage: true });
  await step('sign in at the shop', () => page.click('#shop-signin'));
  await step('reach the consent page', () => page.waitForSelector('#allow'));
  await page.screenshot({ path: `${shots}/bridge-consent.png`, fullPage: true });
  await step('allow', () => page.click('#allow'));
  await step('land on the claims page', () => page.waitForSelector('#user'));
  const claims = JSON.parse(await page.textContent('#claims'));
  const userinfo = JSON.parse(await page.textContent('#userinfo'));
  await page.screenshot({ path: `${shots}/bridge-rp.png`, fullPage: true });
  check(JSON.stringify(claims.amr) === '["fed"]', `amr says federated (${JSON.stringify(claims.amr)})`);
  check(userinfo.email === 'sam@shop.example', `the site's e-mail (${userinfo.email})`);
  check(userinfo.name === 'Sam Shopper', `the site's name (${userinfo.name})`);
  console.log(JSON.stringify({ sub: claims.sub, amr: claims.amr, url: page.url() }));
  console.log('bridge browser: ok');
} finally {
  await context.close();
}
