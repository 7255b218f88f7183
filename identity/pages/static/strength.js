// Password strength meter: marks each of the policy's rules (rendered by the
// server as a list next to the input) as met or unmet while the user types.
// Without JavaScript the list still shows the rules; the server enforces them.
(() => {
  const tests = {
    min_length: (p, n) => [...p].length >= n,
    upper: (p) => /\p{Lu}/u.test(p),
    lower: (p) => /\p{Ll}/u.test(p),
    digit: (p) => /\p{Nd}/u.test(p),
    special: (p) => /[^\p{L}\p{Nd}]/u.test(p),
  };
  for (const input of document.querySelectorAll("input[data-strength]")) {
    const list = document.getElementById(input.dataset.strength);
    if (!list) continue;
    const minLength = Number((list.querySelector('[data-rule="min_length"]')?.textContent.match(/\d+/) || [12])[0]);
    const update = () => {
      const p = input.value;
      for (const li of list.querySelectorAll("li[data-rule]")) {
        const test = tests[li.dataset.rule];
        if (!test) continue;
        const ok = test(p, minLength);
        li.classList.toggle("met", p.length > 0 && ok);
        li.classList.toggle("unmet", p.length > 0 && !ok);
        li.setAttribute("aria-label", li.textContent + (p.length === 0 ? "" : ok ? ": met" : ": not met"));
      }
    };
    input.addEventListener("input", update);
    update();
  }
})();
