// The one way the page talks to the server: the documented REST API, with the credential of
// this sign-in in the Authorization header. The credential is a sign-in token (the
// administrator: it expires when left unused, and the password itself is never kept) or the API
// token the person typed; it lives in this tab's sessionStorage only.

const CREDENTIAL_KEY = "bw-dashboard-credential";

export class ApiFailure extends Error {
  constructor(status, message, detail) {
    super(detail ? `${message}: ${detail}` : message);
    this.status = status;
    this.apiMessage = message;
    this.detail = detail || "";
  }

  // The credential itself is refused: revoked, expired, signed out elsewhere.
  get endsSignIn() {
    return this.status === 403 && this.apiMessage === "Invalid API key";
  }
}

const session = {
  credential: null, // {kind: "signIn" | "token", token}
  caller: null, // GET /api/v1/whoami
  busy: 0,
  onBusy: () => {},
  onEnded: () => {},
};

export function caller() {
  return session.caller;
}

export function may(permission) {
  // One's own account is a user's, whatever the role; an API token has none.
  if (permission === "account") return !!(session.caller && session.caller.kind !== "token");
  return !!(session.caller && session.caller.permissions[permission]);
}

export function onBusy(f) { session.onBusy = f; }
export function onEnded(f) { session.onEnded = f; }

function busy(delta) {
  session.busy += delta;
  session.onBusy(session.busy > 0);
}

async function send(method, path, body, authorization) {
  const headers = { Accept: "application/json" };
  if (authorization) headers.Authorization = authorization;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(+1);
  try {
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit", cache: "no-store",
      });
    } catch (e) {
      throw new ApiFailure(0, "The server cannot be reached.");
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!response.ok) {
      throw new ApiFailure(response.status, (data && data.message) || `${response.status} ${response.statusText}`,
        data && data.detail);
    }
    return data;
  } finally {
    busy(-1);
  }
}

// A call with this sign-in's credential. A refused credential ends the sign-in, with a message
// that says so, and the call fails as it did.
export async function api(method, path, body) {
  const credential = session.credential;
  try {
    return await send(method, path, body, credential ? `Bearer ${credential.token}` : null);
  } catch (e) {
    if (credential && credential === session.credential && e instanceof ApiFailure && e.endsSignIn) {
      const what = credential.kind === "signIn"
        ? "Your sign-in has ended (it was left unused too long, or signed out elsewhere). Sign in again."
        : "This token is no longer accepted (revoked or expired). Sign in again.";
      endLocally();
      session.onEnded(what);
    }
    throw e;
  }
}

function base64(text) {
  const bytes = new TextEncoder().encode(text);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// Signs in: the administrator's name and password are sent once, for a sign-in token; an API
// token is used as it is. Then asks who this is, for the views to show.
export async function signIn(kind, user, secret) {
  let credential;
  if (kind === "token") {
    credential = { kind: "token", token: secret.trim() };
  } else {
    const answer = await send("POST", "/api/v1/sign-in", undefined, `Basic ${base64(`${user}:${secret}`)}`)
      .catch((e) => { throw signInRefusal(e); });
    credential = { kind: "signIn", token: answer.token };
  }
  session.caller = await send("GET", "/api/v1/whoami", undefined, `Bearer ${credential.token}`);
  session.credential = credential;
  sessionStorage.setItem(CREDENTIAL_KEY, JSON.stringify(credential));
  return session.caller;
}

// What a refused sign-in means for the person typing (the API's own words, "Unauthorized",
// said little); other failures as they are.
function signInRefusal(e) {
  if (!(e instanceof ApiFailure)) return e;
  if (e.status === 401) return new ApiFailure(401, "Wrong name or password.");
  if (e.status === 429) {
    return new ApiFailure(429, "Too many failed sign-ins from this address: wait a minute, then try again.");
  }
  return e;
}

// Takes up the sign-in this tab already had (a reload); false when there is none or it ended.
export async function resume() {
  let credential = null;
  try { credential = JSON.parse(sessionStorage.getItem(CREDENTIAL_KEY) || "null"); } catch (e) { credential = null; }
  if (!credential || !credential.token) return false;
  try {
    session.caller = await send("GET", "/api/v1/whoami", undefined, `Bearer ${credential.token}`);
    session.credential = credential;
    return true;
  } catch (e) {
    endLocally();
    if (e instanceof ApiFailure && e.endsSignIn) session.onEnded("Your sign-in has ended. Sign in again.");
    return false;
  }
}

function endLocally() {
  session.credential = null;
  session.caller = null;
  sessionStorage.removeItem(CREDENTIAL_KEY);
}

// Signs out: the server forgets a sign-in token at once; an API token stays valid (it is not
// this page's to end), only this tab forgets it.
export async function signOut() {
  const credential = session.credential;
  endLocally();
  if (credential && credential.kind === "signIn") {
    try { await send("POST", "/api/v1/sign-out", undefined, `Bearer ${credential.token}`); } catch (e) { /* ended anyway */ }
  }
}

export function path(...parts) {
  return parts.map((p) => encodeURIComponent(p)).join("/");
}

// Follows the host's live updates (`GET /api/v1/events`, server-sent events) with this
// sign-in's credential, calling `onEvent` with each `{type, repositoryName?, at}`. Read with
// fetch, which carries the Authorization header (EventSource cannot). A stream that ends
// (the server restarts, a proxy cuts it) is opened again after a pause; it stops for good when
// the sign-in ends or the returned function is called.
export function follow(onEvent) {
  const credential = session.credential;
  const stop = new AbortController();
  const followed = () => !stop.signal.aborted && session.credential === credential;
  (async () => {
    while (followed()) {
      try {
        const response = await fetch("/api/v1/events", {
          headers: { Authorization: `Bearer ${credential.token}`, Accept: "text/event-stream" },
          credentials: "omit", cache: "no-store", signal: stop.signal,
        });
        if (response.status === 401 || response.status === 403) return;
        if (response.ok && response.body) {
          const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
          let pending = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            pending += value;
            const lines = pending.split("\n");
            pending = lines.pop();
            for (const line of lines) {
              if (!line.startsWith("data:")) continue;
              try { onEvent(JSON.parse(line.slice(5))); } catch (e) { /* not an event: skipped */ }
            }
          }
        }
      } catch (e) {
        if (stop.signal.aborted) return;
      }
      await new Promise((resolve) => setTimeout(resolve, 5000));
    }
  })();
  return () => stop.abort();
}
