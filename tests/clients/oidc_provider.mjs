// A real OpenID Provider for the tests: `oidc-provider` (certified by the OpenID Foundation),
// on 127.0.0.1, with one client and accounts made on the fly. Its development login accepts
// any login: the login is the account's email, verified unless it starts with "unverified".
//
// A login may end in `#FORGERY` to make this provider misbehave for that one sign-in, as a
// broken or hostile provider (or someone who stole its tokens) would:
// - `#audience`: the ID token is for another client;
// - `#issuer`: the ID token names another issuer;
// - `#expired`: the ID token expired an hour ago;
// - `#signature`: the ID token is signed by a key the discovery document does not publish;
// - `#expired-code`: the authorization code lives one second.
// Each forged token is signed by this provider's own key (but `#signature`), so only the
// claim said is wrong.
//
// node oidc_provider.mjs MODULE PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// (MODULE: the path of oidc-provider's lib/index.js, where .ci/run installed it.)

import crypto from "node:crypto";

const [module, port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const { default: Provider } = await import(module);
const issuer = `http://127.0.0.1:${port}`;

function rsaKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  return { kid, privateKey, jwk: { ...privateKey.export({ format: "jwk" }), kid, alg: "RS256", use: "sig" } };
}
const published = rsaKey("published");
const unpublished = rsaKey("unpublished");

const b64url = (data) => Buffer.from(data).toString("base64url");
function sign(claims, key) {
  const head = b64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: key.kid }));
  const body = b64url(JSON.stringify(claims));
  const signature = crypto.sign("sha256", Buffer.from(`${head}.${body}`), key.privateKey);
  return `${head}.${body}.${signature.toString("base64url")}`;
}

const forgeryOf = (accountId) => (accountId.includes("#") ? accountId.split("#")[1] : "");

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
  }],
  jwks: { keys: [published.jwk] },
  async findAccount(ctx, id) {
    const email = id.split("#")[0];
    return {
      accountId: id,
      async claims() {
        return { sub: id, email, email_verified: !email.startsWith("unverified") };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: [] },
  scopes: ["openid", "email", "profile"],
  pkce: { required: () => true },
  ttl: { AuthorizationCode: (ctx, code) => (forgeryOf(code.accountId) === "expired-code" ? 1 : 60) },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["a test key, not a secret"] },
});
// The tests speak plain HTTP on 127.0.0.1.
provider.proxy = false;

// The forgeries: the token endpoint's answer, with its ID token made again.
provider.use(async (ctx, next) => {
  await next();
  const idToken = ctx.path === "/token" && ctx.body && ctx.body.id_token;
  if (!idToken) return;
  const claims = JSON.parse(Buffer.from(idToken.split(".")[1], "base64url").toString());
  const forgery = forgeryOf(claims.sub);
  const now = Math.floor(Date.now() / 1000);
  if (forgery === "audience") claims.aud = "another-client";
  else if (forgery === "issuer") claims.iss = "http://127.0.0.1:1";
  else if (forgery === "expired") Object.assign(claims, { iat: now - 7200, exp: now - 3600 });
  else if (forgery !== "signature") return;
  ctx.body = { ...ctx.body, id_token: sign(claims, forgery === "signature" ? unpublished : published) };
});

provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider listening on ${port}`));
