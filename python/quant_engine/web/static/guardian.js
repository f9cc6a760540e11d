// Guardian: loads the panels (HTML fragments) with the operator's token, acts through the JSON
// API, and refreshes the panels an event concerns when the store's outbox (/ws/events) reports
// one. No framework, no build step (docs/dashboard.md).
"use strict";

const TOKEN_KEY = "qe.token";
// Which panels an event kind concerns (prefix match).
const EVENT_PANELS = {
  "strategy.": ["graduation", "swarm"],
  "trials.": ["swarm"],
  "mission.": ["missions"],
  "memory.": ["failures"],
  "verdict.": ["graduation"],
  "calibration.": ["integrity"],
  "journal.": ["shadow"],
  "shadow.": ["shadow", "graduation"],
};
const FALLBACK_REFRESH_MS = 30000; // without a live stream (no token): a slow refresh, never a tight loop

let socket = null;
let lastEvent = null;
let reconnectDelay = 1000;
const pending = new Set();
let flushTimer = null;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (token()) h["Authorization"] = "Bearer " + token();
  return h;
}

function toast(message, kind) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.className = "show " + (kind || "info");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.className = ""; }, 6000);
}

async function api(method, path, body) {
  const init = { method: method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(path, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
  if (!response.ok) {
    const message = (data && data.message) || response.statusText;
    throw new Error(response.status + " " + message);
  }
  return data;
}

function renderCharts(root) {
  if (typeof Plotly === "undefined") return;
  root.querySelectorAll("[data-figure]").forEach((el) => {
    const figure = JSON.parse(el.dataset.figure);
    Plotly.newPlot(el, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
}

async function loadFragment(el, path) {
  try {
    const response = await fetch(path, { headers: headers() });
    const text = await response.text();
    if (!response.ok) {
      let message = text;
      try { message = JSON.parse(text).message; } catch (e) { /* not JSON */ }
      el.innerHTML = "";
      const p = document.createElement("p");
      p.className = "error";
      p.textContent = response.status + ": " + message;
      el.appendChild(p);
      return false;
    }
    el.innerHTML = text;
    renderCharts(el);
    return true;
  } catch (e) {
    el.innerHTML = '<p class="error">the server did not answer</p>';
    return false;
  }
}

async function loadPanel(name) {
  const el = document.querySelector('[data-panel="' + name + '"]');
  if (!el) return;
  await loadFragment(el, "/ui/panels/" + name);
  el.dataset.loaded = String(Date.now());
  if (name === "integrity") {
    const marker = el.querySelector("[data-last-event]");
    if (marker && lastEvent === null) {
      lastEvent = Number(marker.dataset.lastEvent);
      connect();
    }
  }
}

function loadAll() {
  document.querySelectorAll("[data-panel]").forEach((el) => loadPanel(el.dataset.panel));
}

function schedule(panels) {
  panels.forEach((p) => pending.add(p));
  if (flushTimer) return;
  flushTimer = setTimeout(() => { // coalesce bursts of events into one reload per panel
    flushTimer = null;
    const names = Array.from(pending);
    pending.clear();
    names.forEach(loadPanel);
    const detail = document.getElementById("detail");
    if (!detail.hidden && detail.dataset.hash) loadDetail(detail.dataset.hash);
  }, 300);
}

function setLive(state, text) {
  const el = document.getElementById("live");
  el.className = "badge " + state;
  el.textContent = text;
}

function connect() {
  if (socket || lastEvent === null) return;
  if (!token()) {
    setLive("grey", "live: off (no token)");
    return;
  }
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  const url = scheme + location.host + "/ws/events?after=" + lastEvent;
  socket = new WebSocket(url, ["qe.v1", "bearer." + token()]);
  socket.onopen = () => { setLive("green", "live"); reconnectDelay = 1000; };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (typeof event.id === "number") lastEvent = Math.max(lastEvent, event.id);
    for (const prefix in EVENT_PANELS) {
      if (event.kind && event.kind.startsWith(prefix)) schedule(EVENT_PANELS[prefix]);
    }
  };
  socket.onclose = (close) => {
    socket = null;
    if (close.code === 1008 || close.code === 4401) { setLive("red", "live: refused (token?)"); return; }
    setLive("amber", "live: reconnecting");
    setTimeout(connect, reconnectDelay);
    reconnectDelay = Math.min(reconnectDelay * 2, 30000);
  };
}

async function loadDetail(hash) {
  const detail = document.getElementById("detail");
  detail.hidden = false;
  detail.dataset.hash = hash;
  const ok = await loadFragment(detail, "/ui/strategies/" + encodeURIComponent(hash));
  if (ok) detail.scrollIntoView({ block: "start" });
}

function route() {
  const m = location.hash.match(/^#\/strategy\/([0-9a-fA-F]{4,64})$/);
  const detail = document.getElementById("detail");
  if (m) {
    loadDetail(m[1]);
  } else if (location.hash === "#/" || location.hash === "") {
    detail.hidden = true;
    detail.dataset.hash = "";
  }
}

const ACTIONS = {
  promote: (el) => ({
    confirm: "Promote " + el.dataset.label + " to paper trading?",
    call: () => api("POST", "/strategies/" + el.dataset.hash + "/promote", { reason: "promoted from Guardian" }),
    done: (r) => "promoted " + el.dataset.label + " (now " + r.status + ")",
  }),
  retire: (el) => ({
    confirm: "Retire " + el.dataset.label + "? This cannot be undone.",
    call: () => api("POST", "/strategies/" + el.dataset.hash + "/retire", { reason: "retired from Guardian" }),
    done: (r) => "retired " + el.dataset.label + " (now " + r.status + ")",
  }),
  "white-noise": (el) => redTeam(el, "/redteam/white-noise", "White Noise Test"),
  examine: (el) => redTeam(el, "/redteam/examine", "examination"),
  "stop-job": (el) => ({
    confirm: "Stop " + el.dataset.label + " after its current step?",
    call: () => api("DELETE", "/jobs/" + el.dataset.job),
    done: (r) => el.dataset.label + ": " + (r.state === "running" ? "stopping" : r.state),
  }),
  kill: (el) => ({
    confirm: "Kill switch: " + el.dataset.mode + " the paper session " + el.dataset.account + "?",
    call: () => api("POST", "/shadow/kill", { mode: el.dataset.mode, account: el.dataset.account, reason: "Guardian" }),
    done: (r) => "kill switch: " + r.mode + " requested (event " + r.event_id + "); the trader applies it at its next bar close",
  }),
  "cancel-mission": (el) => ({
    confirm: "Cancel mission " + el.dataset.label + "?",
    call: () => api("POST", "/missions/" + el.dataset.mission + "/cancel"),
    done: (r) => "mission " + r.name + " is " + r.status,
  }),
};

// A job's final state, polled with backoff (0.5 s doubling to 5 s): one request at a time.
async function finished(job) {
  let delay = 500;
  for (;;) {
    if (["succeeded", "failed", "cancelled"].includes(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 5000);
    job = await api("GET", job.status_url);
  }
}

function redTeam(el, path, what) {
  return {
    call: async () => {
      const job = await api("POST", path, { strategy_hash: el.dataset.hash });
      toast(what + " of " + el.dataset.label + " running (job " + job.id.slice(0, 8) + ")", "info");
      return finished(job);
    },
    done: (job) => {
      if (job.state !== "succeeded") throw new Error(job.state + ": " + (job.error ? job.error.message : ""));
      const r = job.result;
      return what + " of " + el.dataset.label + ": " + (r.passed ? "passed" : "failed " + r.failure_types.join(", "));
    },
  };
}

async function act(el) {
  if (el.dataset.action === "close-detail") { location.hash = "#/"; return; }
  const make = ACTIONS[el.dataset.action];
  if (!make) return;
  const action = make(el);
  if (action.confirm && !window.confirm(action.confirm)) return;
  el.disabled = true;
  try {
    const result = await action.call();
    toast(action.done(result), "ok");
    schedule(["graduation", "missions", "swarm", "integrity"]);
  } catch (e) {
    toast("refused: " + e.message, "error");
  } finally {
    el.disabled = false;
  }
}

async function submitDirective(form) {
  const directive = form.elements.directive.value.trim();
  if (!directive) return;
  try {
    const mission = await api("POST", "/missions", { directive: directive });
    toast("mission " + mission.name + " created (id " + mission.id + ")", "ok");
    form.reset();
    schedule(["missions"]);
  } catch (e) {
    toast("refused: " + e.message, "error");
  }
}

async function launchSwarm(form) {
  const body = {};
  ["generations", "population", "pool", "days"].forEach((k) => { body[k] = Number(form.elements[k].value); });
  try {
    const job = await api("POST", "/swarm", body);
    toast("swarm run " + job.id.slice(0, 8) + " launched", "ok");
    schedule(["swarm", "integrity"]);
    const done = await finished(job);
    toast("swarm run " + job.id.slice(0, 8) + " " + done.state, done.state === "succeeded" ? "ok" : "error");
    schedule(["swarm", "integrity", "graduation"]);
  } catch (e) {
    toast("refused: " + e.message, "error");
  }
}

document.addEventListener("click", (e) => {
  const el = e.target.closest("[data-action]");
  if (el) { e.preventDefault(); act(el); }
});

document.addEventListener("submit", (e) => {
  const form = e.target;
  if (form.id === "token-form") {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, form.elements.token.value.trim());
    form.elements.token.value = "";
    toast(token() ? "token set for this tab" : "token cleared", "info");
    if (socket) socket.close();
    socket = null;
    connect();
    loadAll();
  } else if (form.dataset.form === "directive") {
    e.preventDefault();
    submitDirective(form);
  } else if (form.dataset.form === "swarm") {
    e.preventDefault();
    launchSwarm(form);
  }
});

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  loadAll();
  route();
  setInterval(() => { if (!socket) loadAll(); }, FALLBACK_REFRESH_MS);
});
