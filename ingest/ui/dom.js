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

export function table(caption, headings, rows) {
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headings.map((heading) => h("th", { scope: "col" }, heading)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))),
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

export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|\+00:00)$/, " UTC") : "never";
}

export function notify(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.classList.toggle("shown", Boolean(message));
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
