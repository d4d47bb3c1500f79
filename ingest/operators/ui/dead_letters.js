// Each work queue's dead letters: what failed and why; replay after a fix, or drop.

import { api, part } from "./api.js";
import { button, h, notify, table, when } from "./dom.js";

export async function deadLettersView(_, __, refresh) {
  const queues = await api("GET", "/v1/dead-letters");
  const letters = await Promise.all(queues.map((queue) => api("GET", `/v1/dead-letters/${part(queue.queue)}`)));
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1" }, "Dead letters"),
    h("p", {}, "Messages a worker could not process. Listing them moves nothing; replay puts them back on their work queue once a fix is deployed."),
    queues.map((queue, index) => queueSection(queue, letters[index], refresh)),
  );
}

function queueSection(queue, letters, refresh) {
  const path = `/v1/dead-letters/${part(queue.queue)}`;
  const settle = (action, pick, done) => async () => {
    const { count } = await api("POST", `${path}/${action}`, pick);
    notify(`${count} ${done}.`);
    refresh();
  };
  const rows = letters.map((letter) => [
    h("code", {}, letter.message_id ?? "-"),
    letter.reason,
    when(letter.dead_at),
    h("details", {}, h("summary", {}, "Body"), h("pre", {}, h("code", {}, letter.body))),
    letter.message_id
      ? button("Replay", settle("replay", { ids: [letter.message_id] }, `put back on ${queue.queue}`), { "aria-label": `Replay ${letter.message_id}` })
      : "",
  ]);
  return h(
    "section",
    { class: "panel" },
    h("h2", {}, `${queue.queue}: ${letters.length} in ${queue.dead_letter_queue}`),
    letters.length
      ? [
          table(`Dead letters of ${queue.queue}`, ["Message", "Reason", "Dead since", "Body", "Action"], rows),
          h(
            "p",
            { class: "actions" },
            button("Replay all", settle("replay", { all: true }, `put back on ${queue.queue}`)),
            button("Drop all", async () => {
              if (confirm(`Drop every dead letter of ${queue.queue} for good?`)) await settle("drop", { all: true }, "dropped")();
            }, { class: "danger" }),
          ),
        ]
      : h("p", {}, "None."),
  );
}
