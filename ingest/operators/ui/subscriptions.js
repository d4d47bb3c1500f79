// Subscriptions: the list with each one's health, a new one, and one with its actions.

import { SESSION_STATUSES, api, part } from "./api.js";
import { button, facts, field, h, notify, table, when } from "./dom.js";

export async function subscriptionsView(_, __, refresh) {
  const [subscriptions, healths] = await Promise.all([
    api("GET", "/v1/subscriptions"),
    api("GET", "/v1/subscription-health"),
  ]);
  const health = new Map(healths.map((entry) => [entry.id, entry]));
  const headings = ["URL", "Sends", "State", "Last success", "Failed attempts (1 h)", "Pending", "Auto-disable"];
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1" }, "Subscriptions"),
    subscriptions.length
      ? table("Every subscription, oldest first", headings, subscriptions.map((s) => row(s, health.get(s.id))))
      : h("p", {}, "No subscription yet: create the first below."),
    newSubscriptionForm(refresh),
  );
}

function row(subscription, health) {
  return [
    h("a", { href: `#/subscriptions/${part(subscription.id)}` }, subscription.url),
    filters(subscription),
    state(subscription),
    when(health?.last_success_at),
    health?.failures_last_hour ?? "-",
    health?.pending ?? "-",
    countdown(health?.disables_at),
  ];
}

function filters(subscription) {
  const statuses = subscription.statuses?.join(", ") ?? "every status";
  const providers = subscription.providers?.join(", ") ?? "every provider";
  return `${statuses}; ${providers}`;
}

function state(subscription) {
  if (subscription.enabled) return h("span", { class: "badge good" }, "enabled");
  const reason = subscription.disabled_reason ? `: ${subscription.disabled_reason}` : "";
  return h("span", { class: "badge bad" }, `disabled${reason}`);
}

export function countdown(disablesAt) {
  if (!disablesAt) return "-";
  const left = new Date(disablesAt) - Date.now();
  if (left <= 0) return "due: the next failure disables it";
  const hours = Math.floor(left / 3_600_000);
  return `in ${Math.floor(hours / 24)} d ${hours % 24} h`;
}

function statusBoxes(chosen) {
  return h(
    "fieldset",
    {},
    h("legend", {}, "Statuses (none ticked: every status)"),
    SESSION_STATUSES.map((status) =>
      h("label", { class: "check" }, h("input", { type: "checkbox", name: "statuses", value: status, checked: chosen?.includes(status) }), ` ${status}`),
    ),
  );
}

export function filterInputs(subscription = {}) {
  return [
    field("URL", h("input", { name: "url", type: "url", required: true, value: subscription.url ?? "", placeholder: "https://receiver.example/hooks" })),
    statusBoxes(subscription.statuses),
    field("Providers", h("input", { name: "providers", value: subscription.providers?.join(", ") ?? "" }), "Comma-separated names; empty: every provider."),
    field("Description", h("input", { name: "description", value: subscription.description ?? "" })),
  ];
}

export function readFilters(form) {
  const data = new FormData(form);
  const statuses = data.getAll("statuses");
  const providers = String(data.get("providers")).split(",").map((p) => p.trim()).filter(Boolean);
  const description = String(data.get("description")).trim();
  return {
    url: String(data.get("url")).trim(),
    statuses: statuses.length ? statuses : null,
    providers: providers.length ? providers : null,
    description: description || null,
  };
}

function newSubscriptionForm(refresh) {
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { "aria-labelledby": "new-title" }, filterInputs(), h("button", { type: "submit" }, "Create subscription"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const created = await api("POST", "/v1/subscriptions", readFilters(form));
      form.reset();
      result.replaceChildren(
        secretPanel(created.secret, "Created. Its signing secret is shown this once:"),
        h("p", {}, h("a", { href: `#/subscriptions/${part(created.id)}` }, `Open ${created.url}`)),
      );
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
    }
  });
  return h("section", { class: "panel" }, h("h2", { id: "new-title" }, "New subscription"), form, result);
}

export function verifySnippet(secret) {
  return [
    "# pip install standardwebhooks",
    "from standardwebhooks.webhooks import Webhook",
    "",
    `receiver = Webhook("${secret ?? "whsec_… (the secret shown when it was created or rotated)"}")`,
    "",
    "def receive(body: bytes, headers: dict[str, str]) -> list[dict]:",
    "    # Raises WebhookVerificationError unless chargehook signed this very body.",
    "    items = receiver.verify(body, headers)",
    "    # Then skip a webhook-id already processed, and keep each session's greatest position.",
    "    return items",
  ].join("\n");
}

export function secretPanel(secret, heading) {
  const snippet = verifySnippet(secret);
  const copied = h("span", { "aria-live": "polite" });
  return h(
    "div",
    { class: "panel secret" },
    secret && [h("p", {}, heading), h("p", {}, h("code", { class: "secret-value" }, secret))],
    h("h2", {}, "Verify it in the receiver"),
    h("pre", {}, h("code", { class: "snippet" }, snippet)),
    button("Copy the snippet", async () => {
      await navigator.clipboard.writeText(snippet);
      copied.textContent = " Copied.";
    }),
    copied,
  );
}

