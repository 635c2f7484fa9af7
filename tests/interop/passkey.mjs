// Passkeys in a real browser (Debian's chromium, headless, playwright-core) with a virtual authenticator
// (DevTools WebAuthn domain: ctap2, internal transport, resident keys, user verification), through the demo RP
// (`portcullis-client serve --key`):
// 1. "Create an account with a passkey" at the RP (its backend signs a prompt=create request) → "Create a
//    passkey" → consent → the RP shows the account's claims;
// 2. signed out everywhere, "Sign in" at the RP → a username-less passkey sign-in (autofill, which a virtual
//    authenticator answers at once, or the button) → the RP shows the same sub;
// 2b. the provider's account page (the RP links to it) → "Add a passkey" on a second authenticator → two listed;
// 3. the RP's signed second-factor request (SECOND_FACTOR_URL) → the passkey alone (the device-bound one: hwk) →
//    a code (printed; the test redeems it);
// 4. a cancelled ceremony (the browser rejects with NotAllowedError, as when the user presses Cancel) → the
//    sign-in page with an error, 401, never a 500.
// Requests sent directly land on REDIRECT_PREFIX, which the script answers itself. Screenshots under
// SCREENSHOT_DIR. Prints {registered, signedIn, secondFactor, autofill} as JSON, then "passkey browser: ok".
//
// Env: RP_URL, ACCOUNT, SECOND_FACTOR_URL, CANCEL_URL, REDIRECT_PREFIX, SCREENSHOT_DIR, CHROMIUM (default
// /usr/bin/chromium), USER_DATA_DIR.
import { check, env, launchChromium } from './lib.mjs';

const shots = env('SCREENSHOT_DIR');
const context = await launchChromium();
try {
  const page = context.pages()[0] || (await context.newPage());
  page.setDefaultTimeout(30000);
  const console_ = [];
  page.on('console', (m) => console_.push(m.text()));
  const step = async (what, f, on = page) => {
    try {
      return await f();
    } catch (e) {
      await on.screenshot({ path: `${shots}/passkey-failure.png`, fullPage: true }).catch(() => {});
      throw new Error(`${what} failed at ${on.url()}: ${e.message}\n${(await on.content()).slice(0, 1500)}\nconsole: ${console_.join(' | ')}`);
    }
  };
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  // `synced`: the authenticator marks its credentials backup eligible and backed up (a synced passkey).
  const authenticator = async (synced = false) => (await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
      defaultBackupEligibility: synced,
      defaultBackupState: synced,
    },
  })).authenticatorId;
  // The first passkey is synced (a phone's or a password manager's); the one added later is device-bound.
  let authenticatorId = await authenticator(true);
  let landed = null;
  await page.route(`${env('REDIRECT_PREFIX')}**`, (route) => {
    landed = route.request().url();
    return route.fulfill({ status: 200, contentType: 'text/html', body: '<p id="rp">back at the relying party</p>' });
  });
  const code = () => new URL(landed).searchParams.get('code');
  const rpClaims = async () => JSON.parse(await page.textContent('#claims'));

  // 1. Registration started by the RP.
  await step('open the RP', () => page.goto(env('RP_URL')));
  await step('type the account', () => page.fill('#account', env('ACCOUNT')));
  await step('ask the RP to create the account', () => page.click('#register'));
  await step('reach the create-a-passkey page', () => page.waitForSelector('#passkey-create'));
  await page.screenshot({ path: `${shots}/passkey-create.png`, fullPage: true });
  await step('create the passkey', () => page.click('#passkey-create'));
  await step('reach the consent page', () => page.waitForSelector('#allow'));
  await step('allow', () => page.click('#allow'));
  await step('see the account at the RP', () => page.waitForSelector('#claims'));
  const registered = await rpClaims();
  check(registered.sub, `a sub after registration (${JSON.stringify(registered)})`);
  check(JSON.stringify(registered.amr) === '["swk","user"]', `a synced passkey says swk (${registered.amr})`);

  // 2. Signed out (the RP's session and the provider's), a username-less sign-in through the RP.
  await step('sign out at the RP', () => page.click('text=Sign out'));
  await context.clearCookies();
  await step('open the RP again', () => page.goto(env('RP_URL')));
  await step('sign in at the RP', () => page.click('#login'));
  // Autofill (conditional mediation) may answer at once on a virtual authenticator: then the page signs in by
  // itself; otherwise the button does it.
  await step('reach the sign-in page or the RP', () => page.waitForSelector('#passkey-begin, #claims'));
  let autofill = (await page.$('#claims')) !== null;
  if (!autofill) {
    await step('sign in with the passkey', () => page.click('#passkey-begin', { timeout: 5000 }).catch(async (e) => {
      if (!(await page.$('#claims'))) { throw e; }
      autofill = true;
    }));
  }
  await step('see the account at the RP again', () => page.waitForSelector('#claims'));
  const signedIn = await rpClaims();
  check(signedIn.sub === registered.sub, `the same account (${signedIn.sub} vs ${registered.sub})`);
  check(signedIn.amr && signedIn.amr.includes('user'), `amr says user verification (${signedIn.amr})`);

  // 2b. The account page at the provider (linked from the RP): add a passkey made on another device (a second,
  // device-bound authenticator: the first one would refuse a second credential for the account).
  await step('open the account page from the RP', () => page.click('#account'));
  await step('reach the account page', () => page.waitForSelector('#add-passkey'));
  await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId });
  authenticatorId = await authenticator(false);
  await step('add a passkey', () => page.click('#add-passkey'));
  await step('reach the create-a-passkey page', () => page.waitForSelector('#passkey-create'));
  await step('create it', () => page.click('#passkey-create'));
  await step('see both passkeys listed', () => page.waitForFunction(() => document.querySelectorAll('li.passkey').length === 2));
  await page.screenshot({ path: `${shots}/passkey-account.png`, fullPage: true });
  const kinds = await page.$$eval('li.passkey', (items) => items.map((li) => li.textContent.includes('(synced')));
  check(kinds.length === 2 && kinds[0] && !kinds[1], `the first passkey synced, the new one device-bound (${kinds})`);

  // 3. Second factor: the RP checked the password; its signed request names the user; only the passkey.
  await context.clearCookies();
  landed = null;
  await step('open the second-factor request', () => page.goto(env('SECOND_FACTOR_URL')));
  await step('reach the second-factor page', () => page.waitForSelector('#passkey-begin'));
  check(!(await page.$('#password')) && !(await page.$('#passkey-username')), 'the passkey alone, for the named user');
  await page.screenshot({ path: `${shots}/passkey-second-factor.png`, fullPage: true });
  await step('pass the second factor', () => page.click('#passkey-begin'));
  await step('land at the RP after the second factor', () => page.waitForSelector('#rp'));
  const secondFactor = code();
  check(secondFactor, `a code after the second factor (${landed})`);

  // 4. A cancelled ceremony: the sign-in page again with an error, never a 500.
  const cancelling = await context.newPage();
  cancelling.setDefaultTimeout(30000);
  await cancelling.addInitScript(() => {
    navigator.credentials.get = () => Promise.reject(new DOMException('The operation was cancelled.', 'NotAllowedError'));
  });
  const statuses = [];
  cancelling.on('response', (r) => { if (r.url().endsWith('/login')) { statuses.push(r.status()); } });
  await context.clearCookies();
  landed = null;
  await step('open a sign-in request to cancel', () => cancelling.goto(env('CANCEL_URL')), cancelling);
  await step('reach the sign-in page to cancel', () => cancelling.waitForSelector('#passkey-begin'), cancelling);
  await cancelling.screenshot({ path: `${shots}/passkey-sign-in.png`, fullPage: true });
  await step('begin and cancel', () => cancelling.click('#passkey-begin'), cancelling);
  await step('see the refusal', () => cancelling.waitForSelector('[role=alert]'), cancelling);
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
