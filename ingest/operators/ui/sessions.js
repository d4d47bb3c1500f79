// A session looked up by provider and id: its state, its bill line by line, its bill chain with
// its billed total, its history; an OCPI Session's charging periods and CDRs too.

import { ApiError, api, part } from "./api.js";
import { facts, field, h, money, table, when } from "./dom.js";

export async function sessionsView(_, query, refresh) {
  const provider = query.get("provider") ?? "";
  const id = query.get("id") ?? "";
  const found = provider && id ? await lookUp(provider, id) : [];
  return h("section", {}, h("h1", { tabindex: "-1" }, "Sessions"), lookupForm(provider, id, refresh), found);
}

function lookupForm(provider, id, refresh) {
  const providerInput = h("input", { name: "provider", required: true, value: provider });
  const idInput = h("input", { name: "id", required: true, value: id });
  const form = h("form", { class: "inline", "aria-label": "Look up a session" }, field("Provider", providerInput), field("Session id", idInput), h("button", { type: "submit" }, "Look up"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = new URLSearchParams({ provider: providerInput.value.trim(), id: idInput.value.trim() });
    const wanted = `#/sessions?${chosen}`;
    if (location.hash === wanted) refresh(); // the same address: no hashchange to wait for
    else location.hash = wanted;
  });
  return form;
}

async function lookUp(provider, id) {
  const path = `/v1/sessions/${part(provider)}/${part(id)}`;
  let state, events, chain;
  try {
    [state, events, chain] = await Promise.all([api("GET", path), api("GET", `${path}/events`), billsOf(path)]);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return h("p", { role: "alert" }, error.message);
    throw error;
  }
  const ocpi = state.session.ocpi;
  const cdrs = ocpi ? await api("GET", `${path}/cdrs`) : [];
  return [
    h("h2", {}, `Session ${state.id} from ${state.provider}`),
    facts([
      ["Status", state.status],
      ["Updated", when(state.updated_at)],
      ["Event", h("code", {}, state.event_id)],
      ["Events stored", state.events],
    ]),
    bill(state.billing),
    billChain(chain),
    table("History, oldest first", ["Received", "Status", "Updated", "Event"], events.map((event) => [
      when(event.received_at),
      event.status,
      when(event.updated_at),
      h("code", {}, event.event_id),
    ])),
    ocpi ? ocpiSession(ocpi, cdrs) : [],
  ];
}

// What the CPO pushed (docs/ocpi.md#what-subscribers-receive): its ids, its charging periods
// as merged from its pushes, and the CDRs that name it.
function ocpiSession(ocpi, cdrs) {
  const dimensions = (period) => period.dimensions.map((d) => `${d.type} ${d.volume}`).join(", ");
  const cost = (price) => (price ? `${price.excl_vat} excl. VAT${price.incl_vat === undefined ? "" : `, ${price.incl_vat} incl.`}` : "-");
  return [
    h("h3", {}, "OCPI"),
    facts([
      ["Party", `${ocpi.country_code}-${ocpi.party_id}`],
      ["OCPI id", h("code", {}, ocpi.session_id)],
      ["OCPI status", ocpi.status],
      ["Location, EVSE, connector", `${ocpi.location_id} / ${ocpi.evse_uid} / ${ocpi.connector_id}`],
      ["CPO's total cost", cost(ocpi.total_cost)],
    ]),
    table("Charging periods", ["Start", "Dimensions"], (ocpi.charging_periods ?? []).map((period) => [when(period.start_date_time), dimensions(period)])),
    cdrs.length
      ? table("CDRs", ["CDR", "Ended", "Energy (kWh)", "Total cost"], cdrs.map((cdr) => [h("code", {}, cdr.id), when(cdr.end_date_time), String(cdr.total_energy), cost(cdr.total_cost)]))
      : h("p", {}, "No CDR yet."),
  ];
}

function bill(billing) {
  if (!billing) return h("p", {}, "Not billed yet.");
  const shown = (value) => money(value, billing.currency);
  const lines = [
    ["Kind", billing.kind],
    ["Priced per", billing.price_unit ?? "-"],
    ["Quantity", billing.quantity ?? "-"],
    ["Base", shown(billing.base)],
    ["Access fee", shown(billing.access_fee)],
    ["Subtotal", shown(billing.subtotal)],
    [`Commission at ${billing.commission_rate}`, shown(billing.commission)],
    [`Tax at ${billing.tax_rate}`, shown(billing.tax)],
    ["Amount", shown(billing.amount)],
  ];
  if (billing.reason) lines.push(["Why incomplete", billing.reason]);
  const sent = billing.provider_figures;
  if (sent) {
    lines.push(["Provider's amount", shown(sent.amount)], ["Provider's commission", shown(sent.commision_price)], ["Provider's tax", shown(sent.tax_price)]);
  }
  if (billing.mismatch) lines.push(["Mismatch", "the provider's figures differ from this bill"]);
  return [h("h3", {}, "Bill"), table(`Bill of event ${billing.event_id}`, ["Line", "Value"], lines, { pairs: true })];
}

// The session's chain (docs/api.md#the-books), or null before its first bill.
async function billsOf(path) {
  try {
    return await api("GET", `${path}/bills`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

// Every bill in id order, each with what it refers to; a credit's lines are negative, and so
// shown. The billed total is the finals and the credits: what the session is billed.
function billChain(chain) {
  if (!chain) return [];
  const rows = chain.bills.map((b) => [
    `#${b.id}`,
    h("span", { class: `badge ${b.kind}` }, b.kind),
    refersTo(b),
    b.cdr_id ? ["CDR ", h("code", {}, b.cdr_id)] : h("code", {}, b.event_id ?? "-"),
    when(b.billed_at),
    money(b.base, b.currency),
    money(b.commission, b.currency),
    money(b.tax, b.currency),
    money(b.amount, b.currency),
    theirs(b),
  ]);
  const totals = chain.billed_total.map((t) => [`Billed total in ${t.currency}`, [money(t.amount, t.currency), ` (commission ${t.commission}, tax ${t.tax})`]]);
  return [
    h("h3", {}, "Bill chain"),
    table("Bills, in id order", ["Bill", "Kind", "Refers to", "From", "Billed", "Base", "Commission", "Tax", "Amount", "Provider's figures"], rows),
    facts(totals.length ? totals : [["Billed total", "nothing yet: no final"]]),
  ];
}

function refersTo(b) {
  if (b.refers_to === null) return "-";
  return b.kind === "credit" ? `credits #${b.refers_to}` : `replaces #${b.refers_to}`;
}

// What the provider sent with the bill: a page-shaped provider's three figures, or an OCPI
// CPO's total_cost of the CDR.
function theirs(b) {
  if (b.cpo_excl_vat !== null) return `total_cost ${b.cpo_excl_vat} excl. VAT, ${b.cpo_incl_vat ?? "-"} incl.`;
  const sent = [["amount", b.provider_amount], ["commission", b.provider_commission], ["tax", b.provider_tax]].filter(([, value]) => value !== null);
  return sent.length ? sent.map(([name, value]) => `${name} ${value}`).join(", ") : "-";
}
