// A UTC day's books (docs/billing.md#reconciliation): each provider's finals and credits, our
// sums per currency, its own figures beside ours, and every figure more than 0.01 from ours.

import { ApiError, api } from "./api.js";
import { field, h, money, table } from "./dom.js";

export async function reconciliationView(_, query, refresh) {
  const day = query.get("day") || today();
  const provider = query.get("provider") ?? "";
  return h("section", {}, h("h1", { tabindex: "-1" }, "Reconciliation"), dayForm(day, provider, refresh), await books(day, provider));
}

// The UTC day now, as YYYY-MM-DD: the API's days are UTC, whatever the browser's zone.
function today() {
  return new Date().toISOString().slice(0, 10);
}

function dayForm(day, provider, refresh) {
  const dayInput = h("input", { name: "day", type: "date", required: true, value: day });
  const providerInput = h("input", { name: "provider", value: provider });
  const form = h(
    "form",
    { class: "inline", "aria-label": "Reconcile a day" },
    field("Day (UTC)", dayInput),
    field("Provider (empty: every one)", providerInput),
    h("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams({ day: dayInput.value });
    if (providerInput.value.trim()) chosen.set("provider", providerInput.value.trim());
    const wanted = `#/reconciliation?${chosen}`;
    if (location.hash === wanted) refresh(); // the same address: no hashchange to wait for
    else location.hash = wanted;
  });
  return form;
}

async function books(day, provider) {
  const asked = new URLSearchParams({ day });
  if (provider) asked.set("provider", provider);
  let report;
  try {
    report = await api("GET", `/v1/reconciliation?${asked}`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 400) return h("p", { role: "alert" }, error.message);
    throw error;
  }
  const intro = h("p", {}, `Finals and credits billed on ${report.day} (UTC): our sums, each provider's own figures beside ours, and every figure more than 0.01 from ours. Estimates are not in the books.`);
  if (!report.providers.length) return [intro, h("p", {}, `No final nor credit was billed on ${report.day}.`)];
  return [intro, report.providers.map(providerDay)];
}

function providerDay(p) {
  const count = (n, one, many) => `${n} ${Number(n) === 1 ? one : many}`; // counts come as text too
  const heading = `${p.provider}: ${count(p.finals, "final", "finals")}, ${count(p.credits, "credit", "credits")}, ${count(p.mismatches.length, "mismatch", "mismatches")}`;
  return h(
    "section",
    { class: p.mismatches.length ? "panel bad" : "panel good", "data-provider": p.provider },
    h("h2", {}, heading),
    p.currencies.map((c) => currencyDay(p.provider, c)),
    mismatches(p),
  );
}

function currencyDay(provider, c) {
  const sums = (name, bills, s) => [name, String(bills), money(s.amount, c.currency), money(s.commission, c.currency), money(s.tax, c.currency)];
  const figures = c.provider_figures.map((f) => [f.figure, String(f.bills), money(f.theirs, c.currency), money(f.ours, c.currency), money(f.difference, c.currency)]);
  return [
    table(`${provider}'s books in ${c.currency}`, ["Line", "Bills", "Amount", "Commission", "Tax"], [
      sums("Finals", c.finals, c.finals_sum),
      sums("Credits", c.credits, c.credits_sum),
      sums("Net", Number(c.finals) + Number(c.credits), c.net),
    ]),
    figures.length
      ? table(`${provider}'s own figures in ${c.currency}, over the bills that sent each`, ["Figure", "Bills", "Theirs", "Ours", "Difference"], figures)
      : h("p", {}, `${provider} sent no figure of its own in ${c.currency}.`),
  ];
}

function mismatches(p) {
  if (!p.mismatches.length) return h("p", {}, "No mismatch.");
  const session = (id) => h("a", { href: `#/sessions?${new URLSearchParams({ provider: p.provider, id })}` }, id);
  const rows = p.mismatches.map((m) => [`#${m.bill_id}`, session(m.session_id), m.kind, m.figure, money(m.theirs, m.currency), money(m.ours, m.currency), money(m.difference, m.currency)]);
  return table(`Mismatches of ${p.provider}`, ["Bill", "Session", "Kind", "Figure", "Theirs", "Ours", "Difference"], rows);
}
