// The tutor widget on lesson pages: a slide-out panel speaking the ChatKit
// protocol to POST /api/v1/chatkit. Answers stream in through fetch (SSE
// read by hand, so the Bearer token goes along); threads are listed by last
// activity; selected lesson text can be asked about ("Ask AI") and is sent
// as the message's quoted_text with the page's URL, title and headings.
import { render, safeURL } from "./md.js";

const $ = (sel, root = document) => root.querySelector(sel);
const el = (tag, cls, text) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pad = (n) => String(n).padStart(2, "0");
/** "Daily limit reached — resets at HH:MM" in the learner's local time. */
export const limitText = (iso) => {
  const d = new Date(iso);
  return `Daily limit reached — resets at ${pad(d.getHours())}:${pad(d.getMinutes())}`;
};

function ago(iso) {
  const s = (Date.now() - new Date(iso).getTime()) / 1000;
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

const MAX_QUOTE = 2000;

export function mountTutor({ api, read, auth, ctx }) {
  const fab = $("#tutor-open");
  const panel = $("#tutor-panel");
  if (!fab || !panel) return { destroy() {} };
  const log = $("#tutor-log");
  const live = $("#tutor-status");
  const list = $("#tutor-threads");
  const listToggle = $("#tutor-threads-toggle");
  const errBox = $("#tutor-error");
  const form = $("#tutor-form");
  const input = $("#tutor-input");
  const quoteBox = $("#tutor-quote");
  const quotaLine = $("#tutor-quota");
  const ask = $("#ask-ai");
  const article = $("#lesson-body");

  let threadId = null;
  let lastUser = null; // {id, created_at} of the newest user message
  let quote = "";
  let selected = "";
  let busy = false;
  let retryFn = null;
  const aborter = new AbortController();

  // ---- panel ----
  function open() {
    panel.hidden = false;
    fab.setAttribute("aria-expanded", "true");
    document.body.classList.add("tutor-open");
    input.focus();
    panel.dataset.ready = "1";
    showQuota(ctx.me());
    if (!threadId) showList(true);
    loadThreads();
  }
  function close() {
    panel.hidden = true;
    panel.dataset.ready = "";
    fab.setAttribute("aria-expanded", "false");
    document.body.classList.remove("tutor-open");
    fab.focus();
  }
  fab.onclick = () => (panel.hidden ? open() : close());
  $("#tutor-close").onclick = close;
  const onKey = (e) => {
    if (e.key === "Escape" && !panel.hidden) {
      e.preventDefault();
      close();
    }
  };
  document.addEventListener("keydown", onKey);

  function showList(show) {
    list.hidden = !show;
    listToggle.setAttribute("aria-expanded", String(show));
  }
  listToggle.onclick = () => {
    showList(list.hidden);
    if (!list.hidden) loadThreads();
  };
  $("#tutor-new").onclick = () => {
    threadId = null;
    lastUser = null;
    log.replaceChildren();
    hideError();
    showList(false);
    input.focus();
    say("New thread.");
  };

  function say(text) {
    live.textContent = text;
  }

  // ---- errors ----
  function showError(text, retry) {
    $("[data-text]", errBox).textContent = text;
    retryFn = retry || null;
    $("[data-retry]", errBox).hidden = !retry;
    errBox.hidden = false;
  }
  function hideError() {
    errBox.hidden = true;
    retryFn = null;
  }
  $("[data-dismiss]", errBox).onclick = () => {
    hideError();
    input.focus();
  };
  $("[data-retry]", errBox).onclick = () => {
    const f = retryFn;
    hideError();
    if (f) f();
  };

  // ---- quota ----
  function showQuota(me) {
    if (!me || me.exempt || me.remaining == null) {
      quotaLine.textContent = "";
      return;
    }
    quotaLine.textContent =
      me.remaining > 0 ? `${me.remaining} of ${me.limit} messages left today` : me.resets_at ? limitText(me.resets_at) : "Daily limit reached";
  }

  // ---- quote ----
  function setQuote(text) {
    quote = text.slice(0, MAX_QUOTE);
    $("[data-text]", quoteBox).textContent = quote;
    quoteBox.hidden = !quote;
  }
  $("[data-remove]", quoteBox).onclick = () => {
    setQuote("");
    input.focus();
  };

  // Select text in the lesson, and a floating button offers to ask about it.
  let selTimer = 0;
  const onSelection = () => {
    clearTimeout(selTimer);
    selTimer = setTimeout(() => {
      const s = getSelection();
      const text = s && s.rangeCount && !s.isCollapsed ? s.toString().trim() : "";
      if (!text || !article || !article.contains(s.getRangeAt(0).commonAncestorContainer)) {
        ask.hidden = true;
        return;
      }
      selected = text;
      const r = s.getRangeAt(0).getBoundingClientRect();
      ask.style.top = `${r.bottom + window.scrollY + 8}px`;
      ask.style.left = `${Math.max(8, Math.min(r.left + window.scrollX, window.innerWidth - 120))}px`;
      ask.hidden = false;
    }, 80);
  };
  document.addEventListener("selectionchange", onSelection);
  ask.addEventListener("mousedown", (e) => e.preventDefault()); // keep the selection
  ask.onclick = () => {
    setQuote(selected);
    ask.hidden = true;
    if (panel.hidden) open();
    else input.focus();
    showList(false);
  };

  // ---- threads ----
  async function chatkit(body, signal) {
    return api("/api/v1/chatkit", { method: "POST", body, signal: signal || aborter.signal });
  }

  async function loadThreads() {
    let r;
    try {
      r = await read(await chatkit({ type: "threads.list", params: { limit: 100, order: "desc" } }));
    } catch {
      return;
    }
    if (!r.ok) return;
    const ul = $("ul", list);
    const threads = r.data.data
      .map((t) => ({ ...t, last: (t.metadata && t.metadata.updated_at) || t.created_at }))
      .sort((a, b) => (a.last < b.last ? 1 : a.last > b.last ? -1 : 0));
    ul.replaceChildren(
      ...threads.map((t) => {
        const li = el("li");
        const b = el("button", "thread" + (t.id === threadId ? " current" : ""));
        b.type = "button";
        b.dataset.thread = t.id;
        b.append(el("span", "t-title", t.title || "Untitled thread"));
        const time = el("time", "t-time muted", ago(t.last));
        time.dateTime = t.last;
        time.title = new Date(t.last).toLocaleString();
        b.append(time);
        b.onclick = () => openThread(t.id);
        li.append(b);
        return li;
      }),
    );
    $("[data-empty]", list).hidden = threads.length > 0;
  }

  async function openThread(id) {
    hideError();
    threadId = id;
    lastUser = null;
    log.replaceChildren();
    showList(false);
    const items = await history(id);
    if (!items) return;
    items.forEach(addItem);
    say(`Opened the thread with ${items.length} messages.`);
    input.focus();
    log.scrollTop = log.scrollHeight;
  }

  // The thread's newest 100 items, oldest first.
  async function history(id) {
    let r;
    try {
      r = await read(await chatkit({ type: "items.list", params: { thread_id: id, limit: 100, order: "desc" } }));
    } catch {
      showError("The tutor is unavailable right now; the thread could not be opened.", () => openThread(id));
      return null;
    }
    if (!r.ok) {
      showError(r.message);
      return null;
    }
    return r.data.data.reverse();
  }

  function addItem(it) {
    if (it.type === "user_message") {
      const text = (it.content || []).map((c) => c.text).join(" ");
      log.append(userBubble(text, it.quoted_text));
      lastUser = { id: it.id, created_at: it.created_at };
    } else if (it.type === "assistant_message") {
      const b = answerBubble(it.id);
      const c = (it.content || [])[0] || { text: "", annotations: [] };
      b.setText(c.text);
      (c.annotations || []).forEach((a) => b.addSource(a));
      b.done();
      log.append(b.node);
    }
  }

  function userBubble(text, quoted) {
    const d = el("div", "msg user");
    if (quoted) d.append(el("blockquote", "q", quoted));
    d.append(el("p", "", text));
    return d;
  }

  function notice(title, message, level) {
    const d = el("div", "msg notice " + (level || "info"));
    if (title) d.append(el("strong", "", title + ": "));
    d.append(document.createTextNode(message));
    log.append(d);
  }

  // An answer: Markdown rendered safely, re-rendered at most once a frame
  // while text streams in; finished sentences go to the live region.
  function answerBubble(id) {
    const node = el("div", "msg assistant");
    if (id) node.dataset.item = id;
    const md = el("div", "md");
    const src = el("div", "sources");
    src.hidden = true;
    const srcList = el("ul");
    src.append(el("p", "muted small", "Sources"), srcList);
    node.append(md, src);
    let text = "";
    let spoken = 0;
    let frame = 0;
    const seen = new Set();
    const paint = () => {
      frame = 0;
      md.replaceChildren(render(text));
    };
    const speak = (all) => {
      const rest = text.slice(spoken);
      const m = all ? rest.length : Math.max(rest.lastIndexOf(". "), rest.lastIndexOf("? "), rest.lastIndexOf("! "), rest.lastIndexOf("\n")) + 1;
      if (m > 0 && rest.slice(0, m).trim()) {
        live.append(el("span", "", rest.slice(0, m) + " "));
        spoken += m;
      }
    };
    return {
      node,
      append(delta) {
        text += delta;
        if (!frame) frame = requestAnimationFrame(paint);
        speak(false);
        log.scrollTop = log.scrollHeight;
      },
      setText(t) {
        text = t;
        paint();
      },
      addSource(a) {
        const s = a && a.source;
        const href = s && safeURL(s.url);
        if (!href || seen.has(href)) return;
        seen.add(href);
        const li = el("li");
        const link = el("a", "", s.title || href);
        link.href = href;
        li.append(link);
        srcList.append(li);
        src.hidden = false;
      },
      done() {
        if (frame) cancelAnimationFrame(frame);
        paint();
        speak(true);
        node.setAttribute("aria-busy", "false");
      },
      get text() {
        return text;
      },
    };
  }

  // ---- sending ----
  form.onsubmit = (e) => {
    e.preventDefault();
    send();
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  function send() {
    const text = input.value.trim();
    if (!text || busy) return;
    if (!auth.user()) {
      showError("Sign in to talk to the tutor.");
      return;
    }
    const msg = {
      content: [{ type: "input_text", text }],
      attachments: [],
      inference_options: {},
    };
    if (quote) msg.quoted_text = quote;
    const metadata = { course: ctx.course, lesson: ctx.lesson, page: ctx.page() };
    const req = threadId
      ? { type: "threads.add_user_message", params: { thread_id: threadId, input: msg }, metadata }
      : { type: "threads.create", params: { input: msg }, metadata };
    const sentQuote = quote;
    showList(false);
    input.value = "";
    setQuote("");
    hideError();
    const bubble = userBubble(text, sentQuote);
    log.append(bubble);
    log.scrollTop = log.scrollHeight;
    run(req, { bubble, text, quote: sentQuote });
  }

  function setBusy(on) {
    busy = on;
    $("#tutor-send").disabled = on;
    if (on) form.setAttribute("aria-busy", "true");
    else form.removeAttribute("aria-busy");
  }

  // run sends one streaming request and relays its events.
  async function run(req, sent) {
    setBusy(true);
    say("The tutor is answering…");
    live.replaceChildren();
    let res;
    try {
      res = await chatkit(req);
    } catch (e) {
      setBusy(false);
      if (e.name === "AbortError") return;
      showError("The tutor is unavailable right now: your message was not sent.", () => run(req, sent));
      return;
    }
    if (!res.ok) {
      setBusy(false);
      const r = await read(res);
      if (sent && sent.bubble && req.type !== "threads.retry_after_item") {
        // Refused requests store nothing: give the text back.
        sent.bubble.remove();
        input.value = sent.text;
        setQuote(sent.quote);
      }
      if (r.status === 429 && r.code === "busy") {
        // Too many answers in flight (this learner's or everyone's): not the quota.
        showError(r.message || "The tutor is busy with your other questions. Try again in a few seconds.", () => run(req, sent));
      } else if (r.status === 429) {
        const t = r.data.resets_at ? limitText(r.data.resets_at) : "Daily limit reached";
        showError(t);
        quotaLine.textContent = t;
      } else if (r.code === "email_not_verified") showError("Verify your email address to talk to the tutor (see the banner at the top of the page).");
      else if (r.status === 401) showError("Your sign-in has ended. Sign in again to talk to the tutor.");
      else if (r.status >= 500) showError("The tutor is unavailable right now: your message was not sent.", () => run(req, sent));
      else showError(r.message);
      say("The message was not sent.");
      return;
    }
    let answer = null;
    let finished = false;
    const handle = (ev) => {
      switch (ev.type) {
        case "thread.created":
          threadId = ev.thread.id;
          break;
        case "thread.item.done":
          if (ev.item.type === "user_message") lastUser = { id: ev.item.id, created_at: ev.item.created_at };
          else if (ev.item.type === "assistant_message") {
            if (!answer) {
              answer = answerBubble(ev.item.id);
              log.append(answer.node);
            }
            const c = ev.item.content[0] || { text: "", annotations: [] };
            answer.setText(c.text);
            (c.annotations || []).forEach((a) => answer.addSource(a));
            answer.done();
            finished = true;
          }
          break;
        case "thread.item.replaced":
          // An output guardrail replaced the answer after it streamed.
          if (ev.item.type === "assistant_message" && answer && answer.node.dataset.item === ev.item.id) {
            const c = ev.item.content[0] || { text: "" };
            answer.setText(c.text);
            say("The tutor revised its answer.");
          }
          break;
        case "notice":
          notice(ev.title, ev.message, ev.level);
          break;
        case "progress_update":
          say(ev.text);
          break;
        case "thread.item.added":
          if (ev.item.type === "assistant_message") {
            answer = answerBubble(ev.item.id);
            answer.node.setAttribute("aria-busy", "true");
            log.append(answer.node);
          }
          break;
        case "thread.item.updated": {
          const u = ev.update || {};
          if (!answer) break;
          if (u.type === "assistant_message.content_part.text_delta") answer.append(u.delta);
          else if (u.type === "assistant_message.content_part.annotation_added") answer.addSource(u.annotation);
          break;
        }
        case "error":
          finished = true;
          if (answer) answer.done();
          showError(
            ev.message || "The tutor could not finish its answer.",
            ev.allow_retry && threadId && lastUser ? () => retryAnswer(answer) : null,
          );
          say("The answer failed.");
          break;
      }
    };
    try {
      await readEvents(res, handle);
    } catch (e) {
      if (e.name === "AbortError") return;
    }
    setBusy(false);
    if (!finished) {
      await resume(answer);
    } else {
      loadThreads();
    }
    showQuota(await ctx.refreshQuota());
  }

  function retryAnswer(failed) {
    if (failed) failed.node.remove();
    run({ type: "threads.retry_after_item", params: { thread_id: threadId, item_id: lastUser.id } });
  }

  // The stream broke before the answer ended. The tutor goes on writing it
  // and stores it, so fetch the thread until the answer is there.
  async function resume(partial) {
    if (!threadId || !lastUser) {
      showError("The connection to the tutor was lost before your message arrived.", null);
      return;
    }
    const status = el("div", "msg notice warn", "Connection lost. Reconnecting…");
    status.setAttribute("role", "status");
    log.append(status);
    say("Connection lost. Reconnecting…");
    const want = lastUser;
    const until = Date.now() + 3 * 60 * 1000;
    for (let wait = 500; Date.now() < until; wait = Math.min(wait * 2, 4000)) {
      await sleep(wait);
      if (aborter.signal.aborted) return;
      let r;
      try {
        r = await read(await chatkit({ type: "items.list", params: { thread_id: threadId, limit: 20, order: "desc" } }));
      } catch {
        continue;
      }
      if (!r.ok) continue;
      const items = r.data.data;
      const idx = items.findIndex((it) => it.id === want.id);
      const found = items.slice(0, idx < 0 ? items.length : idx).reverse().find((it) => it.type === "assistant_message");
      if (idx >= 0 && found) {
        status.remove();
        if (partial) partial.node.remove();
        addItem(found);
        say("Reconnected. " + ((found.content[0] && found.content[0].text) || ""));
        log.scrollTop = log.scrollHeight;
        loadThreads();
        return;
      }
    }
    status.remove();
    showError("The connection to the tutor was lost and the answer did not arrive.", () => openThread(threadId));
  }

  return {
    destroy() {
      aborter.abort();
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("selectionchange", onSelection);
      document.body.classList.remove("tutor-open");
    },
  };
}

// readEvents reads a text/event-stream body: frames "data: <json>\n\n".
async function readEvents(res, handle) {
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, i);
      buf = buf.slice(i + 2);
      for (const line of frame.split("\n")) {
        if (!line.startsWith("data:")) continue;
        let ev;
        try {
          ev = JSON.parse(line.slice(5).trim());
        } catch {
          continue;
        }
        handle(ev);
      }
    }
  }
}
