// Passkeys in a real browser (Debian's chromium, headless, playwright-core) with a virtual authenticator
// (DevTools WebAuthn domain: ctap2, internal transport, resident keys, user verification): a relying party's
// signed registration request → "Create a passkey" → consent → back at the RP with a code; then, signed out, a
// username-less sign-in with that passkey (by autofill, which a virtual authenticator answers at once, or the
// button) → back at the RP with another code; the RP's second-factor request → the passkey → a third code; a
// cancelled ceremony → the sign-in page with an error (401, never a 500). The RP's redirect URI is answered by the
// script itself. Screenshots of the pages under SCREENSHOT_DIR; prints the codes.
//
// Env: START_URL, LOGIN_URL, SECOND_FACTOR_URL, CANCEL_URL, REDIRECT_PREFIX, SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium), USER_DATA_DIR.
import { chromium } from 'playwright-core';
import { check, env } from './lib.mjs';

const shots = env('SCREENSHOT_DIR');
const context = await chromium.launchPersistentContext(env('USER_DATA_DIR'), {
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-dev-shm-usage'],
  timeout: 60000,
});
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  const step = async (what, f) => {
    try {
      await f();
    } catch (e) {
      await page.screenshot({ path: `${shots}/passkey-failure.png`, fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${page.url()}: ${e.message}\n${(await page.content()).slice(0, 1200)}\nconsole: ${console_.join(' | ')}`);
    }
  };
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  let landed = null;
  await page.route(`${env('REDIRECT_PREFIX')}**`, (route) => {
    landed = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="rp">back at the relying party</p>' });
  });
  const code = () => new URL(landed).searchParams.get('code');

  await step('open the registration request', () => page.goto(env('START_URL')));
  await step('reach the create-a-passkey page', () => page.waitForSelector('#passkey-create'));
  await page.screenshot({ path: `${shots}/passkey-create.png`, fullPage: true });
  await step('create the passkey', () => page.click('#passkey-create'));
  await step('reach the consent page', () => page.waitForSelector('#allow'));
  await step('allow', () => page.click('#allow'));
  await step('land at the RP', () => page.waitForSelector('#rp'));
  const registered = code();
  check(registered, `a code after registration (${landed})`);

  await context.clearCookies();
  landed = null;
  // Passkey autofill (conditional mediation) may answer at once on a virtual authenticator: then the page
  // signs in by itself; otherwise the button does it.
  await step('open a sign-in request', () => page.goto(env('LOGIN_URL')));
  await step('reach the sign-in page or the RP', () => page.waitForSelector('#passkey-begin, #rp'));
  let autofill = landed !== null;
  if (!autofill) {
    await page.screenshot({ path: `${shots}/passkey-sign-in.png`, fullPage: true }).catch(() => {});
    await step('sign in with the passkey', () => page.click('#passkey-begin', { timeout: 5000 }).catch((e) => {
      if (landed === null) { throw e; }
      autofill = true;
    }));
  }
  await step('land at the RP again', () => page.waitForSelector('#rp'));
  const signedIn = code();
  check(signedIn && signedIn !== registered, `a new code after the sign-in (${landed})`);

  // Second factor: the RP checked the password; its signed request names the user; only the passkey.
  await context.clearCookies();
  landed = null;
  await step('open the second-factor request', () => page.goto(env('SECOND_FACTOR_URL')));
  await step('reach the second-factor page', () => page.waitForSelector('#passkey-begin'));
  check(!(await page.$('#password')) && !(await page.$('#passkey-username')), 'the passkey alone, for the named user');
  await page.screenshot({ path: `${shots}/passkey-second-factor.png`, fullPage: true });
  await step('pass the second factor', () => page.click('#passkey-begin'));
  await step('land at the RP after the second factor', () => page.waitForSelector('#rp'));
  const secondFactor = code();
  check(secondFactor && secondFactor !== signedIn, `a code after the second factor (${landed})`);

  // A cancelled ceremony (the user presses Cancel: the browser rejects with NotAllowedError): the sign-in
  // page again with an error, never a 500.
  const cancelling = await context.newPage();
  cancelling.setDefaultTimeout(30000);
  await cancelling.addInitScript(() => {
    const refuse = () => Promise.reject(new DOMException('The operation was cancelled.', 'NotAllowedError'));
    navigator.credentials.get = refuse;
  });
  const statuses = [];
  cancelling.on('response', (r) => { if (r.url().endsWith('/login')) { statuses.push(r.status()); } });
  await context.clearCookies();
  landed = null;
  await step('open a sign-in request to cancel', () => cancelling.goto(env('CANCEL_URL')));
  await step('reach the sign-in page to cancel', () => cancelling.waitForSelector('#passkey-begin'));
  await cancelling.screenshot({ path: `${shots}/passkey-sign-in.png`, fullPage: true });
  await step('begin and cancel', () => cancelling.click('#passkey-begin'));
  await step('see the refusal', () => cancelling.waitForSelector('[role=alert]'));
  await cancelling.screenshot({ path: `${shots}/passkey-cancelled.png`, fullPage: true });
  check(landed === null, 'a cancelled ceremony signs nobody in');
  check(statuses.length >= 2 && statuses.every((s) => s < 500), `no 500 after a cancelled ceremony (${statuses})`);
  check(statuses[statuses.length - 1] === 401, `the refusal is a 401 page (${statuses})`);

  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  check(credentials.length === 1 && credentials[0].isResidentCredential, 'one discoverable credential');
  console.log(JSON.stringify({ registered, signedIn, secondFactor, autofill }));
  console.log('passkey browser: ok');
} finally {
  await context.close();
}
