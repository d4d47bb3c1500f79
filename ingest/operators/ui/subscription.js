// One subscription: its settings and health, and what an operator does with it.

import { api, part } from "./api.js";
import { button, facts, h, notify, notifyAfterNavigating, when } from "./dom.js";
import { countdown, filterInputs, readFilters, secretPanel } from "./subscriptions.js";

export async function subscriptionView([id], _, refresh) {
  const [subscription, healths] = await Promise.all([
    api("GET", `/v1/subscriptions/${part(id)}`),
    api("GET", "/v1/subscription-health"),
  ]);
  const health = healths.find((entry) => entry.id === subscription.id) ?? {};
  const path = `/v1/subscriptions/${part(id)}`;
  const answer = h("div", { "aria-live": "polite" });
  const rotated = h("div", { "aria-live": "polite" }); // apart, so a test send never hides it
  return h(
    "section",
    {},
    h("p", {}, h("a", { href: "#/subscriptions" }, "All subscriptions")),
    h("h1", { tabindex: "-1" }, subscription.url),
    facts([
      ["Id", h("code", {}, subscription.id)],
      ["State", subscription.enabled ? "enabled" : `disabled${subscription.disabled_reason ? `: ${subscription.disabled_reason}` : ""}`],
      ["Statuses", subscription.statuses?.join(", ") ?? "every status"],
      ["Providers", subscription.providers?.join(", ") ?? "every provider"],
      ["Description", subscription.description ?? "-"],
      ["Last success", when(subscription.last_success_at)],
      ["Failed attempts, last hour", health.failures_last_hour ?? "-"],
      ["Pending deliveries", health.pending ?? "-"],
      ["Auto-disable", countdown(health.disables_at)],
    ]),
    h(
      "p",
      { class: "actions" },
      h("a", { class: "button", href: `#/subscriptions/${part(id)}/deliveries` }, "Deliveries"),
      button("Send a test event", async () => answer.replaceChildren(testAnswer(await api("POST", `${path}/test`)))),
      button(subscription.enabled ? "Disable" : "Enable", async () => {
        await api("PATCH", path, { enabled: !subscription.enabled });
        notify(subscription.enabled ? "Disabled." : "Enabled.");
        refresh();
      }),
      button("Rotate the secret", async () => {
        if (!confirm("Rotate the signing secret? The old one keeps signing for 24 hours.")) return;
        const secret = await api("POST", `${path}/secret/rotate`);
        rotated.replaceChildren(
          secretPanel(secret.secret, `The new secret, shown this once. The old one signs until ${when(secret.previous_expires_at)}:`),
        );
      }),
      button("Delete", async () => {
        if (!confirm(`Delete the subscription to ${subscription.url} and its deliveries?`)) return;
        await api("DELETE", path);
        notifyAfterNavigating(`Deleted the subscription to ${subscription.url}.`);
        location.hash = "#/subscriptions";
      }, { class: "danger" }),
    ),
    answer,
    rotated,
    editForm(subscription, path, refresh),
    secretPanel(null),
  );
}

function testAnswer(sent) {
  const outcome = sent.succeeded ? "accepted it" : `did not accept it (${sent.error_kind})`;
  return h(
    "div",
    { class: `panel ${sent.succeeded ? "good" : "bad"}` },
    h("h2", {}, "Test event sent"),
    h("p", { class: "test-outcome" }, `The receiver ${outcome}: status ${sent.status_code ?? "none"} in ${sent.latency_ms} ms.`),
    h("p", {}, "webhook-id ", h("code", {}, sent.webhook_id)),
    sent.snippet && h("pre", {}, h("code", {}, sent.snippet)),
  );
}

function editForm(subscription, path, refresh) {
  const form = h("form", { "aria-labelledby": "edit-title" }, filterInputs(subscription), h("button", { type: "submit" }, "Save changes"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("PATCH", path, readFilters(form));
      notify("Saved.");
      refresh();
    } catch (error) {
      notify(`Not saved: ${error.message}`);
    }
  });
  return h("section", { class: "panel" }, h("h2", { id: "edit-title" }, "Edit"), form);
}
