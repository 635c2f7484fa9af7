// node openid-client v6 (a certified RP library nobody here wrote) against portcullis-provider: discovery,
// code + PKCE with client_secret_basic and with a public client, refresh, and UserInfo; the claims are checked.
//
// Env: ISSUER, DEMO_PASSWORD, SECRET_CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT_ID, REDIRECT_URI.
import * as client from 'openid-client';
import { Agent, check, env, portcullisSignIn } from './lib.mjs';

const issuer = env('ISSUER');
const redirect_uri = env('REDIRECT_URI');

async function flow(config, label) {
  const code_verifier = client.randomPKCECodeVerifier();
  const code_challenge = await client.calculatePKCECodeChallenge(code_verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri,
    scope: 'openid profile email offline_access',
    code_challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  const location = await portcullisSignIn(new Agent(), issuer, url.href, 'demo', env('DEMO_PASSWORD'));
  check(location.startsWith(redirect_uri), `${label}: redirected to the RP (${location})`);
  const tokens = await client.authorizationCodeGrant(config, new URL(location), {
    pkceCodeVerifier: code_verifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  check(claims.iss === issuer, `${label}: iss`);
  check(claims.aud === config.clientMetadata().client_id || claims.aud.includes?.(config.clientMetadata().client_id), `${label}: aud`);
  check(typeof claims.sub === 'string' && claims.sub.length > 0, `${label}: sub`);
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  check(info.name === 'Dee Mo', `${label}: userinfo name (${JSON.stringify(info)})`);
  check(info.email === 'demo@portcullis.example', `${label}: userinfo email`);
  check(typeof tokens.refresh_token === 'string', `${label}: refresh token issued`);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  check(typeof refreshed.access_token === 'string' && refreshed.access_token !== tokens.access_token, `${label}: new access token`);
  check(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, `${label}: refresh token rotated`);
  const info2 = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  check(info2.sub === claims.sub, `${label}: userinfo after refresh`);
  // Reuse of the rotated-out refresh token is refused (and revokes the family).
  let refused = false;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (e) {
    refused = e.error === 'invalid_grant';
  }
  check(refused, `${label}: old refresh token refused with invalid_grant`);
  console.log(JSON.stringify({ flow: label, sub: claims.sub, name: info.name, alg: 'verified by openid-client' }));
}

const opts = { execute: [client.allowInsecureRequests] };
const confidential = await client.discovery(
  new URL(issuer), env('SECRET_CLIENT_ID'), env('CLIENT_SECRET'), client.ClientSecretBasic(env('CLIENT_SECRET')), opts);
check(confidential.serverMetadata().issuer === issuer, 'discovery issuer');
await flow(confidential, 'client_secret_basic');
const pub = await client.discovery(new URL(issuer), env('PUBLIC_CLIENT_ID'), undefined, client.None(), opts);
await flow(pub, 'public');
console.log('openid-client interop: ok');
