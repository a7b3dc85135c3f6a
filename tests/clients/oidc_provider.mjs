// A real OpenID Provider for the tests: `oidc-provider` (certified by the OpenID Foundation),
// on 127.0.0.1, with one client and accounts made on the fly. Its development login accepts
// any login: the login is the account's email, verified unless it starts with "unverified".
//
// node oidc_provider.mjs MODULE PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
// (MODULE: the path of oidc-provider's lib/index.js, where .ci/run installed it.)

const [module, port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const { default: Provider } = await import(module);

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    response_types: ["code"],
    grant_types: ["authorization_code"],
  }],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id, email_verified: !id.startsWith("unverified") };
      },
    };
  },
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: [] },
  scopes: ["openid", "email", "profile"],
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ["a test key, not a secret"] },
});
// The tests speak plain HTTP on 127.0.0.1.
provider.proxy = false;
provider.listen(Number(port), "127.0.0.1", () => console.log(`oidc-provider listening on ${port}`));
