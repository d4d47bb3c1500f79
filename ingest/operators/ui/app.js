// The portal's frame: logging in and out, and which view the address shows.

import { ApiError, EXACT_NUMBERS, api, token } from "./api.js";
import { cpoView, cposView } from "./cpos.js";
import { deadLettersView } from "./dead_letters.js";
import { deliveriesView } from "./deliveries.js";
import { h, navigated, notify } from "./dom.js";
import { reconciliationView } from "./reconciliation.js";
import { sessionsView } from "./sessions.js";
import { subscriptionView } from "./subscription.js";
import { subscriptionsView } from "./subscriptions.js";

const VIEWS = [
  [/^#\/subscriptions\/([^/]+)\/deliveries$/, deliveriesView],
  [/^#\/subscriptions\/([^/]+)$/, subscriptionView],
  [/^#\/subscriptions$/, subscriptionsView],
  [/^#\/sessions$/, sessionsView],
  [/^#\/reconciliation$/, reconciliationView],
  [/^#\/dead-letters$/, deadLettersView],
  [/^#\/cpos\/([^/]+)$/, cpoView],
  [/^#\/cpos$/, cposView],
];
const HOME = "#/subscriptions";
let shownAt = 0; // which render is current, so a slow answer never overwrites a newer view
let shownPath = null; // the focus moves to the heading only when the view changes

async function render() {
  const current = ++shownAt;
  const loggedIn = Boolean(token.get());
  document.getElementById("login").hidden = loggedIn;
  document.getElementById("nav").hidden = !loggedIn;
  const view = document.getElementById("view");
  if (!loggedIn) {
    view.replaceChildren();
    view.removeAttribute("aria-busy");
    shownPath = null;
    document.getElementById("token").focus();
    return;
  }
  const [path, query] = (location.hash || HOME).split("?");
  const found = VIEWS.map(([pattern, show]) => [path.match(pattern), show]).find(([match]) => match);
  if (!found) {
    location.hash = HOME;
    return;
  }
  const [match, show] = found;
  markCurrent(path);
  view.setAttribute("aria-busy", "true");
  if (path !== shownPath) view.replaceChildren(h("p", {}, "Loading…"));
  let shown;
  try {
    shown = await show(match.slice(1).map(decodeURIComponent), new URLSearchParams(query), render);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // logged out: render() again
    shown = h("section", {}, h("h1", { tabindex: "-1" }, "That did not work"), h("p", { role: "alert" }, error.message));
  }
  if (current !== shownAt) return;
  const focused = view.contains(document.activeElement) ? document.activeElement.id : null;
  view.replaceChildren(shown);
  view.setAttribute("aria-busy", "false");
  view.dataset.rendered = String(current); // what a test waits on: this render has landed
  if (path !== shownPath) view.querySelector("h1")?.focus();
  else if (focused) document.getElementById(focused)?.focus();
  shownPath = path;
}

function markCurrent(path) {
  for (const link of document.querySelectorAll("#nav a")) {
    const current = path.startsWith(link.getAttribute("href"));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

async function logIn(event) {
  event.preventDefault();
  const input = document.getElementById("token");
  const error = document.getElementById("login-error");
  token.set(input.value.trim());
  try {
    await api("GET", "/v1/dead-letters"); // an admin call that asks nothing of the database
  } catch (failure) {
    token.clear();
    error.textContent = failure.status === 401 || failure.status === 403 ? "That is not the admin token." : failure.message;
    input.focus();
    return;
  }
  input.value = "";
  error.textContent = "";
  notify("");
  render();
}

function logOut() {
  token.clear();
  notify("");
  render();
}

document.getElementById("login-form").addEventListener("submit", logIn);
document.getElementById("logout").addEventListener("click", logOut);
window.addEventListener("hashchange", () => {
  navigated();
  render();
});
window.addEventListener("chargehook:logged-out", () => {
  if (!document.getElementById("login").hidden) return; // logging in: the form says why
  notify("The admin token was refused: log in again.");
  render();
});
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" is no view: move the focus, not the address
  document.getElementById("main").focus();
});
if (!EXACT_NUMBERS) {
  document.querySelector("header").append(
    h("p", { role: "note" }, "This browser cannot keep JSON numbers as sent: amounts may show rounded. The API's are exact."),
  );
}
render();
