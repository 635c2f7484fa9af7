// A real browser (Debian's chromium, headless, driven over the DevTools protocol by playwright-core) through the
// demo RP (`portcullis-client serve`) and portcullis-provider: click "Sign in", fill the provider's login form,
// allow on the consent page, land on the RP's claims page. Saves a screenshot; fails unless the page shows the user.
//
// Env: RP_URL, DEMO_PASSWORD, SCREENSHOT, CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR.
import { check, env, launchChromium } from './lib.mjs';

const context = await launchChromium();
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  const violations = [];
  page.on('console', (m) => violations.push(m.text()));
  const step = async (what, f) => {
    try {
      await f();
    } catch (e) {
      await page.screenshot({ path: env('SCREENSHOT'), fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${page.url()}: ${e.message}\n${(await page.content()).slice(0, 800)}\nconsole: ${violations.join(' | ')}`);
    }
  };
  await step('open the RP', () => page.goto(env('RP_URL')));
  await step('click Sign in', () => page.click('#login'));
  await step('reach the login form', () => page.waitForSelector('#username'));
  await page.fill('#username', 'demo');
  await page.fill('#password', env('DEMO_PASSWORD'));
  await step('sign in', () => page.click('#signin'));
  await step('reach the consent page', () => page.waitForSelector('#allow'));
  await step('allow', () => page.click('#allow'));
  await step('land on the claims page', () => page.waitForSelector('#user'));
  const who = await page.textContent('#user');
  const claims = JSON.parse(await page.textContent('#claims'));
  const userinfo = JSON.parse(await page.textContent('#userinfo'));
  await page.screenshot({ path: env('SCREENSHOT'), fullPage: true });
  check(who.includes('Dee Mo'), `the page names the user (${who})`);
  check(typeof claims.sub === 'string' && claims.sub === userinfo.sub, 'claims and UserInfo agree on sub');
  check(userinfo.email === 'demo@portcullis.example', 'UserInfo email');
  console.log(JSON.stringify({ who, sub: claims.sub, url: page.url() }));
  console.log('browser: ok');
} finally {
  await context.close();
}
