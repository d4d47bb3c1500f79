// The portal's frame: logging in and out, and which view the address shows.

import { ApiError, api, token } from "./api.js";
import { deadLettersView } from "./dead_letters.js";
import { deliveriesView } from "./deliveries.js";
import { h, notify } from "./dom.js";
import { sessionsView } from "./sessions.js";
import { subscriptionView } from "./subscription.js";
import { subscriptionsView } from "./subscriptions.js";

const VIEWS = [
  [/^#\/subscriptions\/([^/]+)\/deliveries$/, deliveriesView],
  [/^#\/subscriptions\/([^/]+)$/, subscriptionView],
  [/^#\/subscriptions$/, subscriptionsView],
  [/^#\/sessions$/, sessionsView],
  [/^#\/dead-letters$/, deadLettersView],
];
const HOME = "#/subscriptions";
let shownAt = 0; // which render is current, so a slow answer never overwrites a newer view

async function render() {
  const loggedIn = Boolean(token.get());
  document.getElementById("login").hidden = loggedIn;
  document.getElementById("nav").hidden = !loggedIn;
  const view = document.getElementById("view");
  if (!loggedIn) {
    view.replaceChildren();
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
  const current = ++shownAt;
  markCurrent(path);
  view.replaceChildren(h("p", {}, "Loading…"));
  let shown;
  try {
    shown = await show(match.slice(1).map(decodeURIComponent), new URLSearchParams(query), render);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // logged out: render() again
    shown = h("section", {}, h("h1", { tabindex: "-1" }, "That did not work"), h("p", { role: "alert" }, error.message));
  }
  if (current !== shownAt) return;
  view.replaceChildren(shown);
  view.querySelector("h1")?.focus();
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
    await api("GET", "/v1/subscription-health");
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
  notify("");
  render();
});
window.addEventListener("chargehook:logged-out", () => {
  notify("The admin token was refused: log in again.");
  render();
});
render();
