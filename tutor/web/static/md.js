// Safe Markdown for the tutor's answers: the text is parsed into DOM nodes
// built with createElement and textContent only, never innerHTML, so HTML
// in an answer shows as text and cannot run. Links are kept only for http,
// https and paths on this site. Supported: paragraphs, headings, lists,
// block quotes, fenced code, inline code, bold, italic and links.

const el = (tag, cls) => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  return e;
};

/** A safe href for url, or null. */
export function safeURL(url) {
  try {
    const u = new URL(url, location.href);
    if (u.protocol === "https:" || u.protocol === "http:") return u.origin === location.origin ? u.pathname + u.search + u.hash : u.href;
  } catch {
    /* not a URL */
  }
  return null;
}

/** Renders markdown into a DocumentFragment. */
export function render(md) {
  const out = document.createDocumentFragment();
  const lines = md.replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  let para = [];
  const flush = () => {
    if (para.length) {
      const p = el("p");
      inline(p, para.join("\n"));
      out.append(p);
      para = [];
    }
  };
  while (i < lines.length) {
    const line = lines[i];
    let m;
    if ((m = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line))) {
      flush();
      const fence = m[1];
      const code = [];
      for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) code.push(lines[i]);
      i++;
      const pre = el("pre");
      const c = el("code");
      if (m[2]) c.dataset.lang = m[2];
      c.textContent = code.join("\n");
      pre.append(c);
      out.append(pre);
      continue;
    }
    if ((m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line))) {
      flush();
      const h = el("h" + Math.min(6, m[1].length + 2));
      inline(h, m[2]);
      out.append(h);
      i++;
      continue;
    }
    if (/^\s*>/.test(line)) {
      flush();
      const q = [];
      for (; i < lines.length && /^\s*>/.test(lines[i]); i++) q.push(lines[i].replace(/^\s*>\s?/, ""));
      const bq = el("blockquote");
      bq.append(render(q.join("\n")));
      out.append(bq);
      continue;
    }
    if ((m = /^\s*([-*+]|\d{1,9}[.)])\s+/.exec(line))) {
      flush();
      const ordered = /\d/.test(m[1]);
      const list = el(ordered ? "ol" : "ul");
      if (ordered && parseInt(m[1], 10) !== 1) list.start = parseInt(m[1], 10);
      const item = ordered ? /^\s*\d{1,9}[.)]\s+(.*)$/ : /^\s*[-*+]\s+(.*)$/;
      let li = null;
      for (; i < lines.length; i++) {
        const l = lines[i];
        const im = item.exec(l);
        if (im) {
          li = el("li");
          inline(li, im[1]);
          list.append(li);
        } else if (li && /^\s{2,}\S/.test(l)) {
          li.append(document.createTextNode(" "));
          inline(li, l.trim());
        } else break;
      }
      out.append(list);
      continue;
    }
    if (!line.trim()) {
      flush();
      i++;
      continue;
    }
    para.push(line);
    i++;
  }
  flush();
  return out;
}

// Inline markup, left to right: `code`, **bold**, *em* / _em_, [text](url).
const INLINE = /(`+)([\s\S]*?[^`])\1(?!`)|\*\*([\s\S]+?)\*\*|(?<!\w)__(\S[\s\S]*?)__(?!\w)|\*([^\s*][\s\S]*?)\*|\b_([^\s_][\s\S]*?)_\b|\[([^\]\n]+)\]\(([^()\s]+)\)/;

function inline(parent, text) {
  while (text) {
    const m = INLINE.exec(text);
    if (!m) break;
    if (m.index) lines(parent, text.slice(0, m.index));
    if (m[1]) {
      const c = el("code");
      c.textContent = m[2].trim();
      parent.append(c);
    } else if (m[3] || m[4]) {
      const b = el("strong");
      inline(b, m[3] || m[4]);
      parent.append(b);
    } else if (m[5] || m[6]) {
      const e = el("em");
      inline(e, m[5] || m[6]);
      parent.append(e);
    } else {
      const href = safeURL(m[8]);
      if (href) {
        const a = el("a");
        a.href = href;
        if (!href.startsWith("/")) {
          a.target = "_blank";
          a.rel = "noopener noreferrer";
        }
        inline(a, m[7]);
        parent.append(a);
      } else lines(parent, m[0]);
    }
    text = text.slice(m.index + m[0].length);
  }
  if (text) lines(parent, text);
}

// Text with its single line breaks kept.
function lines(parent, text) {
  text.split("\n").forEach((t, i) => {
    if (i) parent.append(el("br"));
    if (t) parent.append(document.createTextNode(t));
  });
}
