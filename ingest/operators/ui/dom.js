// Building the page: every value goes in as text, never as markup, so nothing a receiver or
// a provider sent can become part of the page.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...shown(children));
  return element;
}

function shown(children) {
  return children
    .flat(Infinity)
    .filter((child) => child !== undefined && child !== null && child !== false)
    .map((child) => (child instanceof Node ? child : String(child)));
}

// The roles are spelt out because a phone's stylesheet lays each row out as a card.
// `pairs`: a two-column table of names and values, which a phone shows a row to a line.
export function table(caption, headings, rows, { pairs = false } = {}) {
  const row = (cells) =>
    h("tr", { role: "row" }, cells.map((cell, index) => h("td", { role: "cell", "data-label": headings[index] }, cell)));
  return h(
    "div",
    { class: pairs ? "scroll pairs" : "scroll" },
    h(
      "table",
      { role: "table" },
      h("caption", {}, caption),
      h("thead", { role: "rowgroup" }, h("tr", { role: "row" }, headings.map((heading) => h("th", { scope: "col", role: "columnheader" }, heading)))),
      h("tbody", { role: "rowgroup" }, rows.map(row)),
    ),
  );
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

export function field(label, input, hint) {
  const id = input.id || `field-${label.toLowerCase().replace(/\W+/g, "-")}`;
  input.id = id;
  const hintId = hint ? `${id}-hint` : undefined;
  if (hintId) input.setAttribute("aria-describedby", hintId);
  return h("p", { class: "field" }, h("label", { for: id }, label), input, hint && h("small", { id: hintId }, hint));
}

// An amount as the server sent it, with its currency; below zero (a credit) it is marked so.
export function money(value, currency) {
  if (value === null || value === undefined) return "-";
  const text = `${value} ${currency}`;
  return String(value).startsWith("-") ? h("span", { class: "negative" }, text) : text;
}

export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC") : "never";
}

let noticeTimer;
let nextNotice = ""; // said once the address changes, which clears what was said before

export function notifyAfterNavigating(message) {
  nextNotice = message;
}

export function navigated() {
  notify(nextNotice);
  nextNotice = "";
}

export function notify(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  clearTimeout(noticeTimer);
  if (message) noticeTimer = setTimeout(() => notify(""), 8000);
}

// A button that runs `action`, disabled while it runs; a failure is announced, not thrown.
export function button(label, action, attributes = {}) {
  const element = h("button", { type: "button", ...attributes }, label);
  element.addEventListener("click", async () => {
    element.disabled = true;
    try {
      await action();
    } catch (error) {
      notify(`${label} failed: ${error.message}`);
    } finally {
      element.disabled = false;
    }
  });
  return element;
}

// An ISO 8601 instant from an <input type="datetime-local">, read in the browser's zone.
export function instant(localValue) {
  return localValue ? new Date(localValue).toISOString() : null;
}
