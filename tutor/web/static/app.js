// The learner web app: boot (silent sign-in, callback), navigation that
// keeps the in-memory tokens (pages are fetched and swapped, not reloaded),
// banners for degraded states, and the course, course-list and lesson pages.
import * as auth from "./auth.js";
import { mountTutor } from "./tutor.js";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

export class Unavailable extends Error {}

// ---- the tutor's API ------------------------------------------------------

/** Calls the tutor with the Bearer token; a 401 refreshes once and retries. */
export async function api(path, { method = "GET", body, signal } = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = await auth.accessToken();
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal });
    } catch (e) {
      if (e.name === "AbortError") throw e;
      banner("tutor", "The tutor is unavailable right now: it does not answer. Lessons already open stay readable; try again in a moment.", { retry: true });
      throw new Unavailable("the tutor cannot be reached");
    }
    if (res.status === 401 && attempt === 0 && token) {
      try {
        await auth.refresh();
        continue;
      } catch {
        return res;
      }
    }
    if (res.status === 502 || res.status === 503 || res.status === 504) {
      banner("tutor", "The tutor is unavailable right now. Please try again in a moment.", { retry: true });
    } else {
      clearBanner("tutor");
    }
    return res;
  }
}

/** The JSON of a response and its platform error code, if any. */
export async function read(res) {
  const data = await res.json().catch(() => ({}));
  return { ok: res.ok, status: res.status, data, code: (data.error && data.error.code) || "", message: (data.error && data.error.message) || data.message || res.statusText };
}

// ---- banners ----------------------------------------------------------------

export function banner(id, text, { link, retry, action } = {}) {
  let el = $(`#banners [data-banner="${id}"]`);
  if (!el) {
    el = document.createElement("div");
    el.className = "banner " + (id === "verify" ? "info" : "warn");
    el.dataset.banner = id;
    el.setAttribute("role", id === "verify" ? "status" : "alert");
    $("#banners").append(el);
  }
  el.replaceChildren();
  const p = document.createElement("p");
  p.textContent = text;
  el.append(p);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    a.className = "btn small";
    a.dataset.external = "1";
    el.append(a);
  }
  if (action) {
    const b = button(action.text, action.run);
    el.append(b);
  }
  if (retry) el.append(button("Try again", () => location.reload()));
  el.append(button("Dismiss", () => el.remove(), "Dismiss this message"));
}
export const clearBanner = (id) => $(`#banners [data-banner="${id}"]`)?.remove();

function button(text, run, label) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "btn small";
  b.textContent = text;
  if (label) b.setAttribute("aria-label", label);
  b.addEventListener("click", run);
  return b;
}

export function announce(text) {
  const a = $("#announce");
  a.textContent = "";
  setTimeout(() => (a.textContent = text), 50);
}

// ---- sign-in availability ---------------------------------------------------

let signinOK = true;
let statusTimer = 0;
async function checkSignIn() {
  let failing = [];
  try {
    const res = await fetch("/web/status", { headers: { Accept: "application/json" } });
    const s = await res.json();
    failing = s.signin.failing || [];
  } catch {
    // The tutor itself is not answering.
    banner("tutor", "The tutor is unavailable right now: it does not answer. Try again in a moment.", { retry: true });
    return false;
  }
  signinOK = failing.length === 0;
  clearTimeout(statusTimer);
  if (signinOK) {
    clearBanner("signin");
  } else {
    signinUnavailable(failing);
    statusTimer = setTimeout(checkSignIn, 15000);
  }
  $$("[data-signin]").forEach((b) => (b.disabled = !signinOK));
  return signinOK;
}

function signinUnavailable(failing) {
  const what = failing.includes("hydra") ? "the sign-in server (OAuth2) is not responding" : "the identity service is not responding";
  banner("signin", `Sign-in is unavailable right now: ${what}. You can still browse the courses; please try again in a minute.`);
}

async function startSignIn() {
  if (!(await checkSignIn())) return;
  await auth.signIn({ returnTo: location.pathname === "/" ? "/courses" : location.pathname + location.search });
}

// ---- who is signed in ---------------------------------------------------------

let me = null; // GET /api/v1/me

function renderAccount(u) {
  const box = $("#account");
  box.replaceChildren();
  $$(".signed-in-only").forEach((e) => (e.hidden = !u));
  $$(".signed-out-only").forEach((e) => (e.hidden = !!u));
  if (!u) {
    const b = button("Sign in", startSignIn);
    b.id = "sign-in";
    b.className = "btn primary";
    b.dataset.signin = "";
    b.disabled = !signinOK;
    box.append(b);
    return;
  }
  const who = document.createElement("span");
  who.id = "who";
  who.className = "who";
  who.textContent = u.name || u.email;
  who.title = u.email;
  const out = button("Sign out", () => auth.signOut());
  out.id = "sign-out";
  box.append(who, out);
}

async function loadMe() {
  me = null;
  if (!auth.user()) return null;
  const r = await read(await api("/api/v1/me"));
  if (r.ok) me = r.data;
  verifyBanner();
  return me;
}

function verifyBanner() {
  const u = auth.user();
  if (!u || u.verified) {
    clearBanner("verify");
    return;
  }
  const opts = {
    action: { text: "I have verified it", run: recheckVerified },
  };
  if (auth.identityURL) {
    opts.link = { href: auth.identityURL + "verification?return_to=" + encodeURIComponent(location.origin + "/courses"), text: "Verify your email" };
  }
  banner("verify", `Verify your email address (${u.email}) to read lessons and talk to the tutor. You can browse the courses meanwhile.`, opts);
}

// The token says what the email's state was when it was issued: a refresh
// brings the current state.
async function recheckVerified() {
  try {
    await auth.refresh();
  } catch {
    return;
  }
  if (auth.user() && auth.user().verified) {
    clearBanner("verify");
    announce("Your email address is verified.");
    await runPage();
  } else {
    announce("Your email address is not verified yet.");
  }
}
window.addEventListener("focus", () => {
  const u = auth.user();
  if (u && !u.verified) recheckVerified();
});

// ---- navigation ---------------------------------------------------------------

// Same-origin links are fetched and swapped in, so the tokens in memory
// survive; anything else (other origins, the API, downloads) is left alone.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a[href]");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  if (a.target || a.hasAttribute("download") || a.dataset.external) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin || u.pathname.startsWith("/api/") || u.pathname.startsWith("/static/")) return;
  if (u.pathname === location.pathname && u.search === location.search && u.hash) return; // in-page anchor
  e.preventDefault();
  navigate(u.pathname + u.search + u.hash);
});
window.addEventListener("popstate", () => navigate(location.pathname + location.search + location.hash, { push: false }));

let navSeq = 0;
export async function navigate(path, { push = true, replace = false } = {}) {
  const seq = ++navSeq;
  let html;
  try {
    const res = await fetch(path, { headers: { Accept: "text/html" } });
    html = await res.text();
  } catch {
    banner("tutor", "The tutor is unavailable right now: the page could not be loaded. Try again in a moment.", { retry: true });
    return;
  }
  if (seq !== navSeq) return;
  const doc = new DOMParser().parseFromString(html, "text/html");
  const main = doc.getElementById("main");
  if (!main) {
    location.assign(path);
    return;
  }
  if (replace) history.replaceState(null, "", path);
  else if (push) history.pushState(null, "", path);
  document.title = doc.title;
  const cur = $("#main");
  cur.dataset.page = main.dataset.page;
  cur.replaceChildren(...main.childNodes);
  const hash = new URL(path, location.href).hash;
  await runPage();
  if (hash) document.getElementById(decodeURIComponent(hash.slice(1)))?.scrollIntoView();
  else window.scrollTo(0, 0);
  const h1 = $("#main h1");
  if (h1) {
    h1.tabIndex = -1;
    h1.focus({ preventScroll: !!hash });
  }
  announce(doc.title);
}

// ---- pages ----------------------------------------------------------------------

let teardown = null;

async function runPage() {
  if (teardown) teardown();
  teardown = null;
  renderAccount(auth.user());
  $$("[data-signin]").forEach((b) => {
    b.disabled = !signinOK;
    b.onclick = startSignIn;
  });
  const page = $("#main").dataset.page;
  const u = auth.user();
  if (u && !me) await loadMe().catch(() => {});
  if (page === "courses") await coursesPage(u);
  else if (page === "course") await coursePage(u);
  else if (page === "lesson") await lessonPage(u);
}

function enrollmentOf(course) {
  return (me && me.enrollments.find((e) => e.course === course && !e.ended_at)) || null;
}

async function coursesPage(u) {
  if (!u) return;
  for (const li of $$("#course-list [data-course]")) {
    const e = enrollmentOf(li.dataset.course);
    $("[data-state]", li).textContent = e ? `In progress: stage ${e.unlocked_stage} unlocked` : "Not started";
  }
}

async function coursePage(u) {
  const box = $(".course-actions");
  const course = box.dataset.course;
  const stages = +box.dataset.stages;
  const state = $("#course-state");
  const enroll = $("#enroll");
  const complete = $("#complete-stage");
  const paint = () => {
    const e = enrollmentOf(course);
    const unlocked = e ? e.unlocked_stage : 0;
    for (const li of $$("#stages [data-stage]")) {
      const n = +li.dataset.stage;
      const s = n < unlocked ? "done" : n === unlocked ? "unlocked" : "locked";
      li.className = "stage " + s;
      $("[data-badge]", li).textContent = { done: "Done", unlocked: "Unlocked", locked: "Locked" }[s];
    }
    enroll.hidden = !u || !!e;
    enroll.disabled = !u || !u.verified;
    complete.hidden = !e || unlocked >= stages;
    complete.textContent = `Mark stage ${unlocked} complete`;
    if (!u) state.textContent = "Sign in to start this course.";
    else if (!u.verified) state.textContent = "Verify your email address to start this course.";
    else if (!e) state.textContent = "You have not started this course yet.";
    else state.textContent = unlocked >= stages ? `All ${stages} stages are unlocked.` : `Stage ${unlocked} of ${stages} is unlocked.`;
  };
  paint();
  if (!u) return;
  enroll.onclick = async () => {
    const r = await read(await api(`/api/v1/courses/${course}/enroll`, { method: "POST" }));
    if (!r.ok) return banner("action", r.message);
    await loadMe();
    paint();
    announce("You started the course. Stage 1 is unlocked.");
  };
  complete.onclick = () => completeStage(course, enrollmentOf(course).unlocked_stage, paint);
}

async function completeStage(course, stage, after) {
  const r = await read(await api(`/api/v1/courses/${course}/stages/${stage}/complete`, { method: "POST" }));
  if (!r.ok) return banner("action", r.message);
  clearBanner("action");
  await loadMe();
  after();
  announce(`Stage ${stage} is complete. Stage ${stage + 1} is unlocked.`);
}

async function lessonPage(u) {
  const box = $(".lesson-layout");
  const { course, lesson } = box.dataset;
  const stage = +box.dataset.stage;
  const stages = +box.dataset.stages;
  const body = $("#lesson-body");
  const complete = $("#complete-stage");
  const say = (text, ...extra) => {
    const p = document.createElement("p");
    p.className = "notice";
    p.textContent = text;
    body.replaceChildren(p, ...extra);
    body.setAttribute("aria-busy", "false");
  };
  let headings = [];
  const ctx = {
    course, lesson,
    page: () => ({ url: location.href.split("#")[0], title: $("#lesson-title").textContent.trim(), headings }),
    refreshQuota: async () => {
      await loadMe().catch(() => {});
      return me;
    },
    me: () => me,
  };
  const tutor = mountTutor({ api, read, auth, ctx, banner });
  teardown = () => tutor.destroy();
  if (!u) {
    say("Sign in to read this lesson and ask the tutor about it.", button("Sign in", startSignIn));
    return;
  }
  const r = await read(await api(`/api/v1/courses/${course}/lessons/${lesson}`));
  if (!r.ok) {
    if (r.code === "email_not_verified") say("Verify your email address to read this lesson. The link is in the banner above.");
    else if (r.status === 409) {
      const start = button("Start this course", async () => {
        const e = await read(await api(`/api/v1/courses/${course}/enroll`, { method: "POST" }));
        if (!e.ok) return say(e.message);
        await loadMe();
        lessonPage(u);
      });
      start.className = "btn primary";
      say("You have not started this course yet.", start);
    } else if (r.status === 403) {
      const a = document.createElement("a");
      a.href = `/courses/${course}`;
      a.textContent = "Back to the course";
      say(`This lesson is locked: ${r.message}.`, a);
    } else say(`The lesson could not be loaded: ${r.message}`);
    return;
  }
  // Server-rendered by goldmark with raw HTML disabled (and the page's CSP
  // forbids inline script): the only markup here is the renderer's.
  body.innerHTML = r.data.html;
  body.setAttribute("aria-busy", "false");
  headings = r.data.headings.map((h) => h.text).slice(0, 50);
  const e = enrollmentOf(course);
  const canComplete = e && e.unlocked_stage === stage && stage < stages;
  complete.hidden = !canComplete;
  complete.onclick = () =>
    completeStage(course, stage, () => {
      complete.hidden = true;
    });
  if (location.hash) document.getElementById(decodeURIComponent(location.hash.slice(1)))?.scrollIntoView();
}

// ---- boot -------------------------------------------------------------------------

auth.onChange((u) => {
  renderAccount(u);
  if (!u) me = null;
});

async function boot() {
  const path = location.pathname;
  const q = new URLSearchParams(location.search);
  if (path === "/callback") {
    let r;
    try {
      r = await auth.completeSignIn();
    } catch (e) {
      if (e instanceof auth.SignInUnavailable) signinUnavailable(["hydra"]);
      else banner("signin-failed", "Signing in failed: " + e.message + ". Please try again.");
      await checkSignIn();
      return navigate("/", { replace: true });
    }
    if (r.error && r.error !== "login_required" && r.error !== "stale") {
      banner("signin-failed", `Signing in did not work (${r.error}${r.description ? ": " + r.description : ""}). Please try again.`);
    }
    checkSignIn();
    return navigate(r.returnTo, { replace: true });
  }
  const ok = await checkSignIn();
  if (!auth.user() && auth.hinted() && ok) {
    // A reload: the tokens were in memory only. Sign in again without
    // asking, while the identity session lives.
    return auth.signIn({ silent: true });
  }
  if (q.get("state") === "signed-out") {
    history.replaceState(null, "", "/");
    banner("signed-out", "You have signed out.");
    $("#banners [data-banner='signed-out']").className = "banner info";
  }
  await runPage();
}

boot();
