// A subscription's deliveries, newest first, each with every attempt; replay and recover.

import { DELIVERY_STATUSES, api, part } from "./api.js";
import { button, facts, field, h, instant, notify, table, when } from "./dom.js";

export async function deliveriesView([id], query, refresh) {
  const path = `/v1/subscriptions/${part(id)}`;
  const filters = new URLSearchParams({ limit: "100" });
  for (const name of ["status", "since"]) if (query.get(name)) filters.set(name, query.get(name));
  const [subscription, deliveries] = await Promise.all([
    api("GET", path),
    api("GET", `${path}/deliveries?${filters}`),
  ]);
  return h(
    "section",
    {},
    h("p", {}, h("a", { href: `#/subscriptions/${part(id)}` }, subscription.url)),
    h("h1", { tabindex: "-1" }, "Deliveries"),
    filterForm(id, query, refresh),
    h("p", { class: "actions" }, button("Refresh", refresh)),
    deliveries.length
      ? h("ol", { class: "deliveries" }, deliveries.map((delivery) => h("li", {}, deliveryCard(delivery, path, refresh))))
      : h("p", {}, "No delivery matches."),
    recoverForm(path, refresh),
  );
}

function filterForm(id, query, refresh) {
  const status = h(
    "select",
    { name: "status" },
    h("option", { value: "" }, "any"),
    DELIVERY_STATUSES.map((name) => h("option", { value: name, selected: query.get("status") === name }, name)),
  );
  const since = h("input", { name: "since", type: "datetime-local", value: localInput(query.get("since")) });
  const form = h("form", { class: "inline", "aria-label": "Filter deliveries" }, field("Status", status), field("Since", since), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams();
    if (status.value) chosen.set("status", status.value);
    if (since.value) chosen.set("since", instant(since.value));
    const wanted = `#/subscriptions/${part(id)}/deliveries${chosen.size ? `?${chosen}` : ""}`;
    if (location.hash === wanted) refresh(); // the same address: no hashchange to wait for
    else location.hash = wanted;
  });
  return form;
}

function localInput(iso) {
  if (!iso) return "";
  const moment = new Date(iso);
  return new Date(moment - moment.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

function deliveryCard(delivery, path, refresh) {
  const headings = ["#", "When", "Status code", "Latency", "Error kind", "Answer"];
  const attempts = delivery.attempts.map((attempt) => [
    attempt.attempt,
    when(attempt.attempted_at),
    attempt.status_code ?? "none",
    `${attempt.latency_ms} ms`,
    attempt.error_kind ?? "-",
    h("code", {}, attempt.response_snippet ?? ""),
  ]);
  return h(
    "article",
    { class: "delivery", "data-status": delivery.status },
    h("h2", {}, `Session ${delivery.session_id} from ${delivery.provider} `, h("span", { class: `badge ${delivery.status}` }, delivery.status)),
    facts([
      ["Delivery", h("code", {}, delivery.id)],
      ["Event", h("code", {}, delivery.event_id)],
      ["Position", delivery.position],
      ["Created", when(delivery.created_at)],
      ["Next attempt", delivery.next_attempt_at ? when(delivery.next_attempt_at) : "-"],
      ["Last error", delivery.last_error ?? "-"],
    ]),
    attempts.length ? table(`Attempts of delivery ${delivery.id}`, headings, attempts) : h("p", {}, "No attempt yet."),
    button(
      "Replay",
      async () => {
        await api("POST", `${path}/deliveries/${part(delivery.id)}/replay`);
        notify(`Delivery ${delivery.id} queued again.`);
        refresh();
      },
      { "aria-label": `Replay delivery ${delivery.id}` },
    ),
  );
}

function recoverForm(path, refresh) {
  const since = h("input", { name: "since", type: "datetime-local", required: true });
  const form = h("form", { class: "inline", "aria-labelledby": "recover-title" }, field("Failed since", since), h("button", { type: "submit" }, "Recover"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { replayed } = await api("POST", `${path}/recover`, { since: instant(since.value) });
      notify(`Queued again: ${replayed}.`);
      refresh();
    } catch (error) {
      notify(`Recover failed: ${error.message}`);
    }
  });
  return h("section", { class: "panel" }, h("h2", { id: "recover-title" }, "Recover every failure since a time"), form);
}
