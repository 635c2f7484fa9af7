// portcullis-client (our RP) against node oidc-provider v9 (a certified OP nobody here wrote): the provider runs
// on loopback with a matching client; `portcullis-client login` runs its loopback listener; this script plays
// the user in oidc-provider's development login and consent forms and delivers the redirect. The client must
// exit 0 with the validated ID token claims and UserInfo.
//
// Env: CLIENT_BIN (portcullis-client), OP_PORT, RP_PORT.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import Provider from 'oidc-provider';
import { Agent, check, env } from './lib.mjs';

const issuer = `http://127.0.0.1:${env('OP_PORT')}`;
const redirect = `http://127.0.0.1:${env('RP_PORT')}/callback`;
const secret = 'interop-secret-0123456789abcdef0123456789';

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'portcullis',
    client_secret: secret,
    application_type: 'native',
    redirect_uris: [redirect],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: 'Interop User', email: 'interop@example.test', email_verified: true };
      },
    };
  },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['interop-cookie-signing-key-0123456789'] },
});
const server = provider.listen(Number(env('OP_PORT')));
await new Promise((r) => server.once('listening', r));

const child = spawn(env('CLIENT_BIN'), [
  'login', '--issuer', issuer, '--client-id', 'portcullis', '--client-secret', secret,
  '--port', env('RP_PORT'), '--no-browser', '--timeout', '60', '--scope', 'profile email',
], { stdio: ['ignore', 'pipe', 'pipe'] });
let stdout = '';
child.stdout.on('data', (d) => { stdout += d; });
const stderrLines = [];
const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
const url = await new Promise((resolve, reject) => {
  const rl = createInterface({ input: child.stderr });
  rl.on('line', (line) => {
    stderrLines.push(line);
    if (line.startsWith('http')) resolve(line);
  });
  child.on('exit', () => reject(new Error(`client exited early: ${stderrLines.join('\n')}`)));
});

try {
  const agent = new Agent();
  let current = url;
  let res = await agent.fetch(current);
  for (let i = 0; i < 12; i++) {
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.get('location'), current).href;
      current = next;
      res = await agent.fetch(next);
      if (next.startsWith(redirect)) break;
      continue;
    }
    const html = await res.text();
    const action = html.match(/<form[^>]*action="([^"]+)"/);
    check(action, `a form on ${current} (${res.status}): ${html.slice(0, 300)}`);
    const fields = {};
    for (const m of html.matchAll(/<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"/g)) fields[m[1]] = m[2];
    if (html.includes('name="login"')) Object.assign(fields, { login: 'interop-user', password: 'any' });
    current = new URL(action[1].replaceAll('&amp;', '&'), current).href;
    res = await agent.postForm(current, fields);
  }
  check(current.startsWith(redirect), `the browser reached the RP (${current})`);
  const code = await exited;
  check(code === 0, `portcullis-client exit status 0 (got ${code}): ${stderrLines.join('\n')}`);
  const out = JSON.parse(stdout);
  check(out.id_token_claims.iss === issuer, 'iss');
  check(out.id_token_claims.aud === 'portcullis', 'aud');
  check(out.id_token_claims.sub === 'interop-user', 'sub');
  check(out.userinfo.sub === 'interop-user', 'userinfo sub');
  check(out.userinfo.name === 'Interop User', 'userinfo name');
  console.log(JSON.stringify(out));
  console.log('oidc-provider interop: ok');
} finally {
  child.kill();
  server.close();
}
process.exit(0);
