// Sign-in as the public OAuth2 client (authorization code + PKCE S256).
// Tokens live in this module's memory only: never in localStorage,
// sessionStorage or cookies. A reload loses them; the app then signs in
// again silently (prompt=none), which works while the identity session
// lives. The access token is refreshed before it expires; rotating refresh
// tokens are used exactly once each.

const body = document.body.dataset;
export const issuer = body.issuer;
export const clientID = body.clientId;
// The tutor API's audience: Hydra puts it into the access token's aud, and
// the tutor accepts no token without it.
const audience = body.audience;
export const identityURL = body.identity || "";
const ep = {
  auth: issuer + "oauth2/auth",
  token: issuer + "oauth2/token",
  logout: issuer + "oauth2/sessions/logout",
  revoke: issuer + "oauth2/revoke",
};
const redirectURI = location.origin + "/callback";
const scope = "openid offline_access email profile";
// Only a hint that this browser had signed in (no secret): it decides
// whether a reload tries a silent sign-in.
const HINT = "lp.signed-in";
const PENDING = "lp.oauth";

let tokens = null; // {access, refresh, id, exp (ms)}
let refreshing = null;
let timer = 0;
const listeners = new Set();

export class SignInUnavailable extends Error {}
export class SessionEnded extends Error {}

export const onChange = (f) => listeners.add(f);
const emit = () => listeners.forEach((f) => f(user()));

/** The signed-in user from the access token's claims, or null. */
export function user() {
  if (!tokens) return null;
  try {
    const c = JSON.parse(b64urlDecode(tokens.access.split(".")[1]));
    return { id: c.sub, email: c.email || "", name: c.name || "", role: c.role || "student", verified: c.email_verified === true };
  } catch {
    return null;
  }
}

export const hinted = () => localStorage.getItem(HINT) === "1";

function b64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function b64urlDecode(s) {
  s = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(s + "===".slice((s.length + 3) % 4));
  return new TextDecoder().decode(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}
const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));

/** Sends the browser to Hydra; silent asks with prompt=none. */
export async function signIn({ silent = false, returnTo = location.pathname + location.search + location.hash } = {}) {
  const verifier = random(32);
  const challenge = b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))));
  const state = random(16);
  sessionStorage.setItem(PENDING, JSON.stringify({ state, verifier, returnTo, silent }));
  const q = new URLSearchParams({
    response_type: "code", client_id: clientID, redirect_uri: redirectURI, scope, state, audience,
    code_challenge: challenge, code_challenge_method: "S256",
  });
  if (silent) q.set("prompt", "none");
  location.assign(ep.auth + "?" + q);
}

/**
 * Finishes a sign-in at /callback. Returns {returnTo, error?}: error is
 * "login_required" when a silent sign-in found no session.
 */
export async function completeSignIn() {
  const q = new URLSearchParams(location.search);
  const pending = JSON.parse(sessionStorage.getItem(PENDING) || "null");
  sessionStorage.removeItem(PENDING);
  if (!pending || q.get("state") !== pending.state) return { returnTo: "/", error: "stale" };
  const returnTo = safePath(pending.returnTo);
  if (q.get("error")) {
    if (pending.silent) localStorage.removeItem(HINT);
    return { returnTo, error: q.get("error"), description: q.get("error_description") || "", silent: pending.silent };
  }
  await grant({ grant_type: "authorization_code", code: q.get("code"), redirect_uri: redirectURI, code_verifier: pending.verifier });
  localStorage.setItem(HINT, "1");
  return { returnTo };
}

// Only paths of this app, never another origin.
function safePath(p) {
  return typeof p === "string" && p.startsWith("/") && !p.startsWith("//") && !p.startsWith("/callback") ? p : "/";
}

async function grant(params) {
  let res;
  try {
    res = await fetch(ep.token, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: clientID, ...params }),
    });
  } catch {
    throw new SignInUnavailable("the sign-in server cannot be reached");
  }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) {
    if (res.status >= 500) throw new SignInUnavailable(data.error_description || res.statusText);
    throw new SessionEnded(data.error_description || data.error || "sign-in failed");
  }
  const old = tokens;
  tokens = {
    access: data.access_token,
    refresh: data.refresh_token || null,
    id: data.id_token || (old && old.id),
    exp: Date.now() + (data.expires_in || 3600) * 1000,
  };
  schedule(data.expires_in || 3600);
  emit();
}

// Refresh ahead of expiry: a minute early, or a fifth of the lifetime
// when that is shorter.
function schedule(lifetime) {
  clearTimeout(timer);
  const ahead = Math.min(60, lifetime * 0.2);
  timer = setTimeout(() => refresh().catch(() => {}), Math.max(1, lifetime - ahead) * 1000);
}

/** Refreshes the tokens once, however many callers ask at the same time. */
export function refresh() {
  if (!tokens || !tokens.refresh) return Promise.reject(new SessionEnded("not signed in"));
  if (!refreshing) {
    const rt = tokens.refresh;
    tokens.refresh = null; // a rotated refresh token is never sent twice
    refreshing = grant({ grant_type: "refresh_token", refresh_token: rt, scope })
      .catch((e) => {
        if (e instanceof SessionEnded) {
          tokens = null;
          localStorage.removeItem(HINT);
          emit();
        } else if (tokens && !tokens.refresh) {
          tokens.refresh = rt; // never reached Hydra: the token is unused
          clearTimeout(timer);
          timer = setTimeout(() => refresh().catch(() => {}), 10000);
        }
        throw e;
      })
      .finally(() => (refreshing = null));
  }
  return refreshing;
}

// After a tab slept (timers are throttled), catch up on visibility.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && tokens && tokens.exp - Date.now() < 60000) refresh().catch(() => {});
});

/** The access token, refreshed first when it is about to expire. */
export async function accessToken() {
  if (refreshing) await refreshing.catch(() => {});
  if (tokens && tokens.exp - Date.now() < 15000) await refresh().catch(() => {});
  return tokens ? tokens.access : null;
}

/** RP-initiated logout: ends Hydra's and the identity session, then lands on the landing page. */
export async function signOut() {
  const t = tokens;
  tokens = null;
  clearTimeout(timer);
  localStorage.removeItem(HINT);
  emit();
  if (t && t.refresh) {
    // Best effort: the refresh token dies now, not in seven days.
    await fetch(ep.revoke, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ client_id: clientID, token: t.refresh, token_type_hint: "refresh_token" }),
    }).catch(() => {});
  }
  const q = new URLSearchParams({ post_logout_redirect_uri: location.origin + "/", state: "signed-out" });
  if (t && t.id) q.set("id_token_hint", t.id);
  location.assign(ep.logout + "?" + q);
}
