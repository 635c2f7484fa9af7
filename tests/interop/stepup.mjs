// Step-up in a real browser (Debian's chromium, headless, driven by playwright-core) through the demo RP
// (`portcullis-client serve`) and portcullis-provider: sign in with the password, open the provider's account page
// and set up an authenticator app from its QR code (the code computed here from the key the page shows, RFC 6238),
// then the RP's "Sensitive action": the provider asks for the app's code and the browser comes back to the RP
// with an Auth Token the RP validated. Screenshots: the QR code, and the RP's confirmation.
//
// Env: RP_URL, ISSUER, DEMO_PASSWORD, SCREENSHOT_DIR, CHROMIUM (default /usr/bin/chromium), USER_DATA_DIR.
import { createHmac } from 'node:crypto';
import { check, env, launchChromium } from './lib.mjs';

function base32(s) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of s.replace(/=+$/, '')) {
    const v = alphabet.indexOf(c.toUpperCase());
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const out = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) out.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(out);
}

// RFC 6238 with HMAC-SHA-1, 6 digits, 30-second steps.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const o = mac[mac.length - 1] & 0x0f;
  const n = ((mac[o] & 0x7f) << 24) | (mac[o + 1] << 16) | (mac[o + 2] << 8) | mac[o + 3];
  return String(n % 1000000).padStart(6, '0');
}

const nowStep = () => Math.floor(Date.now() / 1000 / 30);
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
      await page.screenshot({ path: `${shots}/stepup-failure.png`, fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${page.url()}: ${e.message}\n${(await page.content()).slice(0, 1200)}\nconsole: ${console_.join(' | ')}`);
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
  const sub = JSON.parse(await page.textContent('#claims')).sub;

  // The provider's account page: set up an authenticator app.
  await step('open the factors page', () => page.goto(`${env('ISSUER')}/account/factors`));
  await step('begin the app set-up', () => page.click('#setup-app'));
  await step('see the QR code', () => page.waitForSelector('#qr svg'));
  const secret = (await page.textContent('#app-secret')).trim();
  const uri = (await page.textContent('#otpauth-uri')).trim();
  check(uri.startsWith('otpauth://totp/') && uri.includes(`secret=${secret}`), `the URI carries the key (${uri})`);
  const qr = await page.locator('#qr svg').boundingBox();
  check(qr && qr.width >= 150 && qr.height >= 150, 'the QR code is drawn');
  await page.screenshot({ path: `${shots}/totp-enrolment.png`, fullPage: true });
  const enrolStep = nowStep();
  await page.fill('#app-code', totp(secret, enrolStep));
  await step('confirm the app', () => page.click('#confirm-app'));
  await step('see it set up', () => page.waitForSelector('#app-state'));
  check((await page.textContent('#app-state')).includes('Set up.'), 'the app is set up');

  // The RP's sensitive action asks for a step-up.
  await step('back to the RP', () => page.goto(env('RP_URL')));
  await step('click the sensitive action', () => page.click('#sensitive'));
  await step('reach the step-up page', () => page.waitForSelector('#app-code'));
  check((await page.textContent('#factors-asked')).includes('authenticator app'), 'the page says what is asked');
  // A code is accepted once: wait for the app's next code.
  while (nowStep() <= enrolStep) await new Promise((r) => setTimeout(r, 500));
  await page.fill('#app-code', totp(secret, nowStep()));
  await step('verify the code', () => page.click('#verify-app-code'));
  await step('land on the RP', () => page.waitForSelector('#done'));
  const done = await page.textContent('#done');
  check(done.includes('mobile_app'), `the RP names the factor (${done})`);
  await page.screenshot({ path: `${shots}/stepup-done.png`, fullPage: true });
  console.log(JSON.stringify({ sub, done, url: page.url() }));
  console.log('stepup browser: ok');
} finally {
  await context.close();
}
