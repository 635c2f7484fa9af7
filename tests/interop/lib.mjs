// Shared by the interop scripts: a scripted user agent (cookie jar, no automatic redirects) that signs in at
// the Portcullis provider or at node oidc-provider's development interactions, and small assertion helpers.

import { chromium } from 'playwright-core';

// Debian's chromium, headless, with a fresh profile in USER_DATA_DIR (CHROMIUM overrides the binary): without the
// background-networking flags it keeps trying hosts this closed network refuses.
export async function launchChromium() {
  return chromium.launchPersistentContext(env('USER_DATA_DIR'), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-dev-shm-usage'],
    timeout: 60000,
  });
}

export function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
}

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

export class Agent {
  constructor() {
    this.cookies = new Map(); // origin -> Map(name -> value)
  }

  jar(url) {
    const o = new URL(url).origin;
    if (!this.cookies.has(o)) this.cookies.set(o, new Map());
    return this.cookies.get(o);
  }

  async fetch(url, init = {}) {
    const jar = this.jar(url);
    const headers = new Headers(init.headers || {});
    if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(15000) });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (value === '' || /max-age=0/i.test(c)) jar.delete(name); else jar.set(name, value);
    }
    return res;
  }

  async postForm(url, fields) {
    return this.fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
}

function hidden(html, name) {
  const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
  return m ? m[1].replaceAll('&amp;', '&') : undefined;
}

/// Signs in at the Portcullis provider (login form, then consent when asked) and returns the final redirect
/// Location to the relying party.
export async function portcullisSignIn(agent, issuer, authorizationUrl, username, password) {
  let res = await agent.fetch(authorizationUrl);
  for (let i = 0; i < 5; i++) {
    if (res.status >= 300 && res.status < 400) return res.headers.get('location');
    const html = await res.text();
    let fields;
    let action;
    if (html.includes('action="/login"')) {
      action = '/login';
      fields = { username, password };
    } else if (html.includes('action="/consent"')) {
      action = '/consent';
      fields = { decision: 'allow' };
    } else {
      throw new Error(`unexpected provider page (${res.status}): ${html.slice(0, 300)}`);
    }
    res = await agent.postForm(issuer + action, {
      pending: hidden(html, 'pending'),
      csrf: hidden(html, 'csrf'),
      ...fields,
    });
  }
  throw new Error('no redirect after login and consent');
}
