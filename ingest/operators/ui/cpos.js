// OCPI CPOs: the list with each one's parties, registration state and last push or error;
// one CPO with its endpoints; adding one, with its token A shown once.

import { api, part } from "./api.js";
import { facts, field, h, table, when } from "./dom.js";

const STATES = { token_a_issued: "token A issued", registered: "registered", unregistered: "unregistered" };

function state(cpo) {
  const tone = cpo.state === "registered" ? "good" : cpo.state === "unregistered" ? "bad" : "pending";
  return h("span", { class: `badge ${tone}` }, STATES[cpo.state] ?? cpo.state);
}

function lastError(cpo) {
  return cpo.last_error ? `${when(cpo.last_error_at)}: ${cpo.last_error}` : "none";
}

export async function cposView() {
  const cpos = await api("GET", "/v1/ocpi/cpos");
  const headings = ["CPO", "Parties", "State", "Endpoints", "Last push", "Last error"];
  const rows = cpos.map((cpo) => [
    h("a", { href: `#/cpos/${part(cpo.name)}` }, cpo.name),
    cpo.parties.join(", "),
    state(cpo),
    cpo.endpoints.length,
    when(cpo.last_push_at),
    lastError(cpo),
  ]);
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1" }, "CPOs"),
    h("p", {}, "Charge-point operators that push Sessions and CDRs over OCPI 2.2.1."),
    cpos.length ? table("Every CPO, by name", headings, rows) : h("p", {}, "No CPO yet: add the first below."),
    newCpoForm(),
  );
}

function newCpoForm() {
  const result = h("div", { "aria-live": "polite" });
  const name = h("input", { name: "name", required: true, placeholder: "acme-cpo", autocomplete: "off" });
  const parties = h("input", { name: "parties", required: true, placeholder: "ES-ABC, ES-DEF", autocomplete: "off" });
  const form = h(
    "form",
    { "aria-labelledby": "new-cpo-title" },
    field("Name", name, "Lower case: a-z, 0-9, '-' and '_'. It is the provider name its sessions carry."),
    field("Parties", parties, "Country code and party id it may push for, comma-separated: ES-ABC, ES-DEF."),
    h("button", { type: "submit" }, "Add CPO"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const codes = parties.value.split(",").map((code) => code.trim()).filter(Boolean);
    try {
      const created = await api("POST", "/v1/ocpi/cpos", { name: name.value.trim(), parties: codes });
      form.reset();
      result.replaceChildren(tokenPanel(created));
    } catch (error) {
      result.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
    }
  });
  return h("section", { class: "panel" }, h("h2", { id: "new-cpo-title" }, "Add a CPO"), form, result);
}

function tokenPanel(created) {
  return h(
    "div",
    { class: "panel secret" },
    h("p", {}, `Added ${created.name}. Give the CPO, out of band, our versions URL and its token A, shown this once:`),
    facts([
      ["Versions URL", h("code", {}, created.versions_url)],
      ["Token A", h("code", { class: "secret-value" }, created.token_a)],
    ]),
    h("p", {}, "It registers with POST on our credentials endpoint; token A then stops working."),
    h("p", {}, h("a", { href: `#/cpos/${part(created.name)}` }, `Open ${created.name}`)),
  );
}

export async function cpoView([name]) {
  const cpo = await api("GET", `/v1/ocpi/cpos/${part(name)}`);
  const endpoints = cpo.endpoints.map((endpoint) => [endpoint.identifier, endpoint.role, h("code", {}, endpoint.url)]);
  return h(
    "section",
    {},
    h("p", {}, h("a", { href: "#/cpos" }, "All CPOs")),
    h("h1", { tabindex: "-1" }, `CPO ${cpo.name}`),
    facts([
      ["State", state(cpo)],
      ["Parties", cpo.parties.join(", ") || "none"],
      ["Its versions URL", cpo.versions_url ? h("code", {}, cpo.versions_url) : "-"],
      ["Version", cpo.version ?? "-"],
      ["Added", when(cpo.created_at)],
      ["Registered", when(cpo.registered_at)],
      ["Last push", when(cpo.last_push_at)],
      ["Last error", lastError(cpo)],
    ]),
    cpo.endpoints.length
      ? table("Its endpoints, from its version details", ["Module", "Role", "URL"], endpoints)
      : h("p", {}, "No endpoints yet: they are read from the CPO when it registers."),
  );
}
