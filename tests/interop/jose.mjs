// Tokens both ways with node `jose` v6.
//   MODE=verify: ISSUER, TOKENS (JSON [{alg, aud, token}]): every ID token from portcullis-provider verifies with
//                jose against the provider's jwks_uri (issuer, audience, the one expected alg); a token with a
//                flipped signature byte does not.
//   MODE=sign:   OUT_DIR: for ES256, RS256, PS256, EdDSA writes ALG.jwks.json (public) and ALG.jwt, signed by jose.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as jose from 'jose';
import { check, env } from './lib.mjs';

const ALGS = ['ES256', 'RS256', 'PS256', 'EdDSA'];

if (env('MODE') === 'verify') {
  const issuer = env('ISSUER');
  const meta = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json();
  const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
  for (const { alg, aud, token } of JSON.parse(env('TOKENS'))) {
    const { payload, protectedHeader } = await jose.jwtVerify(token, jwks, { issuer, audience: aud, algorithms: [alg] });
    check(protectedHeader.alg === alg, `${alg}: header alg`);
    check(typeof protectedHeader.kid === 'string', `${alg}: kid`);
    check(typeof payload.sub === 'string', `${alg}: sub`);
    const [h, p, s] = token.split('.');
    const sig = Buffer.from(s, 'base64url');
    sig[sig.length - 1] ^= 1;
    let refused = false;
    try {
      await jose.jwtVerify(`${h}.${p}.${sig.toString('base64url')}`, jwks, { issuer, audience: aud, algorithms: [alg] });
    } catch (e) {
      refused = e.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED';
    }
    check(refused, `${alg}: tampered signature refused`);
    console.log(`jose verified ${alg} ID token for ${aud}`);
  }
  console.log('jose verify: ok');
} else {
  const out = env('OUT_DIR');
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = await jose.exportJWK(publicKey);
    jwk.kid = `jose-${alg.toLowerCase()}`;
    jwk.alg = alg;
    jwk.use = 'sig';
    writeFileSync(join(out, `${alg}.jwks.json`), JSON.stringify({ keys: [jwk] }));
    const token = await new jose.SignJWT({ name: `signed by jose with ${alg}` })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'JWT' })
      .setIssuer('https://jose.example')
      .setAudience('portcullis')
      .setSubject('jose-user')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(privateKey);
    writeFileSync(join(out, `${alg}.jwt`), token);
  }
  console.log('jose sign: ok');
}
