/* The support console: reads and acts through the API's inbox endpoints only (/v1/inbox).
 * The agent's API key lives in this tab's sessionStorage and goes out as a Bearer header.
 * Every string from the server is put into the page as text (never as HTML). */
"use strict";

(function () {
  const API = document.body.dataset.api;
  const POLL_MS = Number(document.body.dataset.pollMs) || 3000;
  const KEY = "larder.inbox.key";
  const $ = (id) => document.getElementById(id);

  let polling = null;
  let openId = null;      // the problem shown in the detail pane
  let openVersion = null; // its version as shown there: what an action says it saw
  let listed = [];
  let noticed = null;     // the newer version of the open problem the agent was told about

  // ------------------------------------------------------------ helpers

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") el.className = value;
      else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function ago(iso) {
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 90) return `${Math.round(s)} s`;
    if (s < 5400) return `${Math.round(s / 60)} min`;
    return `${(s / 3600).toFixed(1)} h`;
  }

  function clock(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour12: false }) : "";
  }

  class ApiError extends Error {
    constructor(status, body) {
      super(typeof body.detail === "string" ? body.detail : `HTTP ${status}`);
      this.status = status;
      this.body = body;
    }
  }

  async function call(path, options) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(KEY) || ""}` };
    if (options && options.body) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, { ...options, headers });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) signOut("Your key was refused: sign in again.");
    if (!response.ok) throw new ApiError(response.status, body);
    return body;
  }

  function explanation(rule) {
    const found = $("rule-explanations").content.querySelector(`[data-rule="${CSS.escape(rule)}"]`);
    return found ? found.textContent : "";
  }

  // ------------------------------------------------------------ signing in

  function signOut(message) {
    sessionStorage.removeItem(KEY);
    clearInterval(polling);
    polling = null;
    $("workspace").hidden = true;
    $("sign-out").hidden = true;
    $("sign-in").hidden = false;
    $("sign-in-error").textContent = message || "";
    $("api-key").focus();
  }

  async function signIn(event) {
    event.preventDefault();
    sessionStorage.setItem(KEY, $("api-key").value.trim());
    $("api-key").value = "";
    try {
      await call("?limit=1");
    } catch (error) {
      signOut(error.status === 403 ? "This key cannot read the inbox (needs inbox:read)."
        : `Could not sign in: ${error.message}`);
      return;
    }
    start();
  }

  function start() {
    $("sign-in").hidden = true;
    $("workspace").hidden = false;
    $("sign-out").hidden = false;
    refresh();
    polling = setInterval(refresh, POLL_MS);
  }

  // ------------------------------------------------------------ the list

  function query() {
    const form = new FormData($("filters"));
    const params = new URLSearchParams({ order: "severity", limit: "1000" });
    for (const [name, value] of form) if (String(value).trim()) params.set(name, value.trim());
    return "?" + params.toString();
  }

  async function refresh() {
    try {
      listed = await call(query());
      render(listed);
      $("live-status").textContent = `Updated ${clock(new Date().toISOString())}`;
      const shown = listed.find((p) => p.problem_id === openId);
      if (shown && shown.version !== openVersion && shown.version !== noticed) {
        noticed = shown.version; // said once per change, not at every poll
        $("detail-notice").textContent =
          `This problem changed since you opened it (now version ${shown.version}). `;
        $("detail-notice").append(h("button", { type: "button", onclick: () => openProblem(openId) },
          "Show the latest"));
      }
    } catch (error) {
      if (error.status !== 401) $("live-status").textContent = `Not updated: ${error.message}`;
    }
  }

  // A muted record sits under its cause: a record of a rule named in its `muted_by` on the
  // same order, else the venue-level record of its venue.
  function causeOf(problem, all) {
    const by = [problem.muted_by || (problem.details && problem.details.muted_by) || []].flat();
    if (!problem.muted || !by.length) return null;
    return all.find((c) => c !== problem && by.includes(c.rule) && (
      (problem.order_id && c.order_id === problem.order_id) ||
      (c.order_id === null && c.venue_id === problem.venue_id))) || null;
  }

  function groups(problems) {
    const byPlace = new Map();
    for (const p of problems) {
      const key = `${p.city_id ?? "-"}/${p.venue_id ?? "-"}`;
      if (!byPlace.has(key)) byPlace.set(key, { city: p.city_id, venue: p.venue_id, items: [] });
      byPlace.get(key).items.push(p);
    }
    return [...byPlace.values()]; // in the order of their first (most urgent) record
  }

  function render(problems) {
    const focused = document.activeElement && document.activeElement.dataset.problem;
    const under = new Map();
    const top = [];
    for (const p of problems) {
      const cause = causeOf(p, problems);
      if (cause) {
        if (!under.has(cause.problem_id)) under.set(cause.problem_id, []);
        under.get(cause.problem_id).push(p);
      } else top.push(p);
    }
    const list = $("problem-list");
    list.replaceChildren(...groups(top).map((group) => groupView(group, under)));
    if (!problems.length) list.append(h("p", { className: "empty" }, "No problems here."));
    $("problem-count").textContent = `(${top.length})`;
    if (focused) {
      const again = list.querySelector(`[data-problem="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function groupView(group, under) {
    const title = `City ${group.city ?? "?"} · venue ${group.venue ?? "?"}`;
    const venueFirst = [...group.items].sort((a, b) => (a.order_id === null ? -1 : 0) -
      (b.order_id === null ? -1 : 0));
    return h("section", { className: "group", "aria-label": title },
      h("h3", {}, title),
      h("ul", { className: "cards" }, venueFirst.map((p) => cardView(p, under))));
  }

  function cardView(problem, under) {
    const subject = problem.order_id ? `order ${problem.order_id}` : `venue ${problem.venue_id}`;
    const flags = [];
    if (problem.silenced_until && Date.parse(problem.silenced_until) > Date.now())
      flags.push(`silenced until ${clock(problem.silenced_until)}`);
    if (problem.acknowledged_by) flags.push(`ack ${problem.acknowledged_by}`);
    if (problem.assigned_to) flags.push(`→ ${problem.assigned_to}`);
    if (problem.resolved_at) flags.push(`resolved (${problem.resolution})`);
    if (problem.muted) flags.push("muted");
    const label = `${problem.severity} ${problem.rule}, ${subject}, for ${ago(problem.since)}` +
      (flags.length ? `, ${flags.join(", ")}` : "");
    const children = (under.get(problem.problem_id) || []).map((p) =>
      h("li", { className: "symptom" }, h("button", {
        type: "button", className: "card muted", "data-problem": p.problem_id,
        "aria-label": `${p.rule} on ${subject}, muted because of ${problem.rule}`,
        onclick: () => openProblem(p.problem_id),
      }, `${p.rule} because ${problem.rule.replaceAll("_", " ")}`)));
    return h("li", { className: `card-item ${problem.severity}` },
      h("button", {
        type: "button", className: `card ${problem.severity}`, "data-problem": problem.problem_id,
        "aria-label": label, "aria-current": problem.problem_id === openId ? "true" : null,
        onclick: () => openProblem(problem.problem_id),
      },
      h("span", { className: "severity" }, problem.severity),
      h("span", { className: "rule" }, problem.rule),
      h("span", { className: "subject" }, subject),
      h("span", { className: "age" }, ago(problem.since)),
      flags.length ? h("span", { className: "flags" }, flags.join(" · ")) : null),
      children.length ? h("ul", { className: "symptoms", "aria-label": "Muted under it" }, children)
        : null);
  }

  // ------------------------------------------------------------ the detail

  async function openProblem(problemId) {
    openId = problemId;
    $("detail-error").textContent = "";
    $("detail-notice").textContent = "";
    try {
      showDetail(await call(`/${problemId}`));
    } catch (error) {
      $("detail-error").textContent = error.message;
    }
    $("detail").hidden = false;
    $("detail").focus();
  }

  function closeDetail() {
    const id = openId;
    openId = null;
    $("detail").hidden = true;
    const card = document.querySelector(`[data-problem="${id}"]`);
    (card || $("problems")).focus();
  }

  function showDetail(p) {
    openVersion = p.version;
    $("detail-notice").textContent = "";
    const subject = p.order_id ? `order ${p.order_id}` : `venue ${p.venue_id}`;
    $("detail-title").textContent = `#${p.problem_id} ${p.rule} — ${subject}`;
    $("detail-body").replaceChildren(
      h("p", { className: "explanation" }, p.explanation || explanation(p.rule)),
      facts(p),
      p.timeline ? timelineView(p.timeline) : null,
      actionsView(p),
      historyView(p.history || []));
  }

  function facts(p) {
    const rows = [
      ["Status", p.status + (p.resolution ? ` (${p.resolution})` : "")],
      ["Severity", p.severity],
      ["City / venue", `${p.city_id ?? "?"} / ${p.venue_id ?? "?"}`],
      ["True since", `${clock(p.since)} (${ago(p.since)} ago)`],
      ["Opened", clock(p.opened_at)],
      ["Assigned to", p.assigned_to || "nobody"],
      ["Version", p.version],
    ];
    if (p.silenced_until) rows.push(["Silenced until", `${clock(p.silenced_until)} by ${p.silenced_by}`]);
    if (p.muted) rows.push(["Muted by", [p.muted_by || p.details.muted_by || []].flat().join(", ")]);
    for (const [name, value] of Object.entries(p.details || {})) {
      if (typeof value !== "object" || value === null) rows.push([name.replaceAll("_", " "), value]);
    }
    return h("dl", { className: "facts" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
  }

  function timelineView(timeline) {
    const rows = timeline.happened.map((e) => h("tr", {},
      h("td", {}, clock(e.at)), h("td", {}, e.type), h("td", {}, "happened")));
    const due = timeline.expected.map((e) => h("tr", { className: e.overdue ? "overdue" : "" },
      h("td", {}, clock(e.by)), h("td", {}, e.what),
      h("td", {}, e.overdue ? `overdue (${e.rule})` : `due by then (${e.rule})`)));
    return h("section", { "aria-labelledby": "timeline-title" },
      h("h3", { id: "timeline-title" }, "Timeline"),
      h("table", { className: "timeline" },
        h("caption", {}, "What happened, and what should have happened by when"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"),
          h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "State"))),
        h("tbody", {}, rows, due)));
  }

  function historyView(history) {
    return h("section", { "aria-labelledby": "history-title" },
      h("h3", { id: "history-title" }, "History"),
      h("ol", { className: "history", id: "history" }, history.map((c) => h("li", {},
        h("time", { datetime: c.at }, clock(c.at)), " ",
        h("strong", { className: "change" }, c.change), ` by ${c.actor}`,
        c.details && c.details.assignee ? ` to ${c.details.assignee}` : null,
        c.details && c.details.until ? ` until ${clock(c.details.until)}` : null,
        c.details && c.details.after_silence_of ? ` (still true after the silence of #${c.details.after_silence_of})` : null,
        c.note ? h("q", {}, c.note) : null))));
  }

  function actionsView(p) {
    const open = p.resolved_at === null;
    const button = (label, action, enabled, extra) => h("button", {
      type: "button", disabled: !enabled, onclick: () => act(p.problem_id, action, extra ? extra() : {}),
    }, label);
    return h("section", { "aria-labelledby": "actions-title", className: "actions" },
      h("h3", { id: "actions-title" }, "Actions"),
      h("div", { className: "row" },
        button("Acknowledge", "ack", open && !p.acknowledged_at),
        button("Resolve", "resolve", open)),
      h("div", { className: "row" },
        h("label", { for: "assignee" }, "Assign to"),
        h("input", { id: "assignee", type: "text", maxlength: 100, value: p.assigned_to || "" }),
        button("Assign", "assign", open, () => ({ assignee: $("assignee").value.trim() }))),
      h("div", { className: "row" },
        h("label", { for: "silence-minutes" }, "Silence for"),
        h("select", { id: "silence-minutes" },
          [15, 30, 60, 120, 240].map((m) => h("option", { value: m }, `${m} min`))),
        button("Silence", "silence", open, () => ({ minutes: Number($("silence-minutes").value) }))),
      h("div", { className: "row" },
        h("label", { for: "note" }, "Note"),
        h("textarea", { id: "note", rows: 2, maxlength: 2000 }),
        button("Add note", "note", true, () => ({ note: $("note").value }))));
  }

  async function act(problemId, action, extra) {
    $("detail-error").textContent = "";
    const body = { version: openVersion, ...extra };
    const note = $("note") && $("note").value.trim();
    if (action !== "note" && note) body.note = note;
    try {
      showDetail(await call(`/${problemId}/${action}`, { method: "POST", body: JSON.stringify(body) }));
      $("detail-notice").textContent = `Done: ${action}.`;
      refresh();
    } catch (error) {
      if (error.status === 409 && error.body.current) {
        // show the record as it is now (with its timeline), then say why nothing was done
        await openProblem(problemId);
        $("detail-error").textContent = `Not done — ${error.body.detail}`;
      } else {
        $("detail-error").textContent = `Not done — ${error.message}`;
      }
    }
  }

  // ------------------------------------------------------------ wiring

  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("filters").addEventListener("change", refresh);
  $("filters").addEventListener("submit", (e) => { e.preventDefault(); refresh(); });
  $("close-detail").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && openId !== null) closeDetail();
    const card = document.activeElement;
    if (!["ArrowDown", "ArrowUp"].includes(event.key) || !card.matches("#problem-list .card")) return;
    const cards = [...document.querySelectorAll("#problem-list button.card")];
    const next = cards[cards.indexOf(card) + (event.key === "ArrowDown" ? 1 : -1)];
    if (next) { next.focus(); event.preventDefault(); }
  });
  if (sessionStorage.getItem(KEY)) start(); else signOut("");
})();
