// A stand-in for GitHub's OAuth app endpoints and its emails API, as GitHub documents them
// (docs.github.com: "Authorizing OAuth apps", "REST API endpoints for emails"), for the tests:
// github.com cannot be reached from them. Served as a GitHub Enterprise Server is, at
// `/login/oauth/...` and `/api/v3/...`, on 127.0.0.1. What it checks is what GitHub checks:
// the client and its secret, the redirect address, the code (once, ten minutes), and PKCE
// (S256) when the authorize request had a challenge.
//
// Its login page takes any login: the login is the account's primary email, verified unless it
// starts with "unverified"; each account also has a verified, non-primary "second-LOGIN".
//
// node github_standin.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI

import crypto from "node:crypto";
import http from "node:http";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const codes = new Map(); // code -> { login, challenge, redirect, at }
const tokens = new Map(); // access token -> login

const send = (res, status, body, type = "application/json; charset=utf-8") => {
  res.writeHead(status, { "content-type": type });
  res.end(typeof body === "string" ? body : JSON.stringify(body));
};
const escape = (s) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
const readBody = (req) =>
  new Promise((resolve) => {
    let data = "";
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => resolve(new URLSearchParams(data)));
  });

http
  .createServer(async (req, res) => {
    const url = new URL(req.url, `http://127.0.0.1:${port}`);
    const q = url.searchParams;
    if (url.pathname === "/login/oauth/authorize") {
      if (q.get("client_id") !== clientId) return send(res, 404, "no such application", "text/plain");
      if (q.get("redirect_uri") !== redirectUri) return send(res, 400, "redirect_uri mismatch", "text/plain");
      if (!(q.get("scope") || "").split(/[ ,]/).includes("user:email")) return send(res, 400, "scope", "text/plain");
      if (q.get("code_challenge") && q.get("code_challenge_method") !== "S256") return send(res, 400, "pkce", "text/plain");
      if (req.method === "GET") {
        return send(res, 200, `<form method="post"><input type="hidden" name="prompt" value="login">` +
          `<input name="login"><input name="password" type="password"></form><p>${escape(q.get("client_id"))}</p>`,
          "text/html");
      }
      const form = await readBody(req);
      const code = crypto.randomBytes(10).toString("hex");
      codes.set(code, { login: form.get("login"), challenge: q.get("code_challenge"), redirect: q.get("redirect_uri"), at: Date.now() });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      back.searchParams.set("state", q.get("state") || "");
      res.writeHead(302, { location: back.toString() });
      return res.end();
    }
    if (url.pathname === "/login/oauth/access_token" && req.method === "POST") {
      const form = await readBody(req);
      // GitHub answers its errors with 200 and an `error` field.
      const refuse = (error) => send(res, 200, { error, error_description: error });
      if (form.get("client_id") !== clientId || form.get("client_secret") !== clientSecret) return refuse("incorrect_client_credentials");
      const grant = codes.get(form.get("code"));
      codes.delete(form.get("code"));
      if (!grant || Date.now() - grant.at > 600_000) return refuse("bad_verification_code");
      if (form.get("redirect_uri") && form.get("redirect_uri") !== grant.redirect) return refuse("redirect_uri_mismatch");
      if (grant.challenge) {
        const made = crypto.createHash("sha256").update(form.get("code_verifier") || "").digest("base64url");
        if (made !== grant.challenge) return refuse("bad_verification_code");
      }
      const token = `gho_${crypto.randomBytes(18).toString("hex")}`;
      tokens.set(token, grant.login);
      if (!(req.headers.accept || "").includes("json")) {
        return send(res, 200, `access_token=${token}&scope=user%3Aemail&token_type=bearer`, "application/x-www-form-urlencoded");
      }
      return send(res, 200, { access_token: token, token_type: "bearer", scope: "user:email" });
    }
    if (url.pathname === "/api/v3/user/emails" && req.method === "GET") {
      const auth = req.headers.authorization || "";
      const login = tokens.get(auth.replace(/^(Bearer|token) /, ""));
      if (!login) return send(res, 401, { message: "Bad credentials" });
      if (!req.headers["user-agent"]) return send(res, 403, { message: "Request forbidden: a User-Agent header is required" });
      return send(res, 200, [
        { email: `second-${login}`, primary: false, verified: true, visibility: null },
        { email: login, primary: true, verified: !login.startsWith("unverified"), visibility: "private" },
      ]);
    }
    send(res, 404, { message: "Not Found" });
  })
  .listen(Number(port), "127.0.0.1", () => console.log(`github stand-in listening on ${port}`));
