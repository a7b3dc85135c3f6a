// The one way the page talks to the server: the documented REST API. A person's sign-in is a
// sign-in token the server keeps in an HttpOnly, SameSite=Strict cookie: no script reads it,
// every tab of this browser shares it (a deep link or a Ctrl+click opens signed in), and each
// unsafe request carries the X-BW-CSRF header that another site's form cannot send. The
// password itself is never kept. An API token typed in is sent as a Bearer token and lives in
// this tab's sessionStorage only.

const CREDENTIAL_KEY = "bw-dashboard-credential";
// Whether this browser holds a sign-in cookie (no secret: the cookie itself is out of reach),
// so that a new tab asks the server, and a sign-out tells the other tabs.
const SIGNED_IN_KEY = "bw-dashboard-signed-in";

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
  credential: null, // {kind: "cookie"} or {kind: "token", token}
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

// What a request carries for `credential`: the cookie (with the CSRF header), or a Bearer token.
function carried(credential) {
  if (credential && credential.kind === "token") {
    return { headers: { Authorization: `Bearer ${credential.token}` }, credentials: "omit" };
  }
  return { headers: { "X-BW-CSRF": "1" }, credentials: "same-origin" };
}

async function send(method, path, body, authorization, credential) {
  const how = authorization ? { headers: { Authorization: authorization }, credentials: "same-origin" } : carried(credential);
  const headers = { Accept: "application/json", ...how.headers };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  busy(+1);
  try {
    let response;
    try {
      response = await fetch(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
        credentials: how.credentials, cache: "no-store",
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
    return await send(method, path, body, null, credential);
  } catch (e) {
    const ended = e instanceof ApiFailure && (e.endsSignIn || (credential && credential.kind === "cookie" && e.status === 401));
    if (credential && credential === session.credential && ended) {
      const what = credential.kind === "cookie"
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

// Signs in: a person's name and password are sent once, and the server answers with the
// sign-in cookie; an API token is used as it is. Then asks who this is, for the views to show.
export async function signIn(kind, user, secret) {
  let credential;
  if (kind === "token") {
    credential = { kind: "token", token: secret.trim() };
  } else {
    await send("POST", "/api/v1/sign-in", undefined, `Basic ${base64(`${user}:${secret}`)}`)
      .catch((e) => { throw signInRefusal(e); });
    credential = { kind: "cookie" };
  }
  session.caller = await send("GET", "/api/v1/whoami", undefined, null, credential);
  session.credential = credential;
  if (kind === "token") sessionStorage.setItem(CREDENTIAL_KEY, JSON.stringify(credential));
  else localStorage.setItem(SIGNED_IN_KEY, "1");
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

// A provider sent the browser back signed in (`#/signed-in`): the cookie is there; remember
// that this browser holds one, for the other tabs.
export function providerSignedIn() {
  localStorage.setItem(SIGNED_IN_KEY, "1");
}

// Takes up the sign-in this tab or this browser already has (a reload, a new tab, a deep link);
// false when there is none or it ended.
export async function resume() {
  let credential = null;
  try { credential = JSON.parse(sessionStorage.getItem(CREDENTIAL_KEY) || "null"); } catch (e) { credential = null; }
  if (!credential || !credential.token) {
    credential = localStorage.getItem(SIGNED_IN_KEY) ? { kind: "cookie" } : null;
  }
  if (!credential) return false;
  try {
    session.caller = await send("GET", "/api/v1/whoami", undefined, null, credential);
    session.credential = credential;
    return true;
  } catch (e) {
    endLocally();
    if (e instanceof ApiFailure && (e.endsSignIn || e.status === 401)) session.onEnded("Your sign-in has ended. Sign in again.");
    return false;
  }
}

function endLocally() {
  const wasCookie = session.credential && session.credential.kind === "cookie";
  session.credential = null;
  session.caller = null;
  sessionStorage.removeItem(CREDENTIAL_KEY);
  if (wasCookie) localStorage.removeItem(SIGNED_IN_KEY);
}

// Signs out: the server forgets the sign-in at once and clears its cookie, and every tab of
// this browser ends its own (they hear of it through localStorage). An API token stays valid
// (it is not this page's to end); only this tab forgets it.
export async function signOut() {
  const credential = session.credential;
  endLocally();
  if (credential && credential.kind === "cookie") {
    try { await send("POST", "/api/v1/sign-out", undefined, null, credential); } catch (e) { /* ended anyway */ }
  }
}

// Another tab signed out (or its sign-in ended): this one ends too, saying why.
window.addEventListener("storage", (event) => {
  if (event.key !== SIGNED_IN_KEY || event.newValue) return;
  if (session.credential && session.credential.kind === "cookie") {
    session.credential = null;
    session.caller = null;
    session.onEnded("You signed out in another tab. Sign in again.");
  }
});

export function path(...parts) {
  return parts.map((p) => encodeURIComponent(p)).join("/");
}

// Follows the host's live updates (`GET /api/v1/events`, server-sent events) with this
// sign-in's credential, calling `onEvent` with each `{type, repositoryName?, at}`. Read with
// fetch, which carries an API token's Authorization header (EventSource cannot). A stream that ends
// (the server restarts, a proxy cuts it) is opened again after a pause; it stops for good when
// the sign-in ends or the returned function is called.
export function follow(onEvent) {
  const credential = session.credential;
  const stop = new AbortController();
  const followed = () => !stop.signal.aborted && session.credential === credential;
  const how = carried(credential);
  (async () => {
    while (followed()) {
      try {
        const response = await fetch("/api/v1/events", {
          headers: { ...how.headers, Accept: "text/event-stream" },
          credentials: how.credentials, cache: "no-store", signal: stop.signal,
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
