// Switchboard operator console. Plain JavaScript, no build step.
//
// Model: one in-memory copy per resource (calls, orbits, conferences,
// recordings), loaded with GET /api/v1/... and kept current by the event
// stream: each event refetches (or, for calls, updates) only what it
// names. Views render from the copies; the calls view renders one page
// only, so 1,000 live calls cost 50 rows of DOM.
//
// Every value from the server reaches the page through text nodes
// (textContent), never markup: see el().
"use strict";

(() => {
  const API = "/api/v1";
  const PAGE = 50; // calls and recordings per page
  const BLF_PAGE = 200; // orbits per page of the busy-lamp field
  const ENDED_KEEP_MS = 5000; // an ended call stays (struck out) this long
  const LOG_MAX = 500;

  const state = {
    token: sessionStorage.getItem("switchboard.token") || "",
    view: "calls",
    calls: new Map(), // id -> CallView (+ ended: time)
    callPage: 0,
    callSel: null, // call id
    orbits: { orbits: [], ranges: [], capacity: 0, pickup_timeout_seconds: 0, disabled: false },
    orbitPage: 0,
    orbitSel: null, // orbit number
    confs: [],
    confSel: null, // conference id
    conf: null, // ConferenceView with roster
    partSel: null, // participant id
    recs: [],
    recPage: 0,
    recSel: null,
    lastEventID: "",
    source: null,
  };

  const $ = (id) => document.getElementById(id);

  // el builds an element; strings and numbers among children become text
  // nodes, so data is never parsed as HTML.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "dataset") Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---- messages -------------------------------------------------------

  let msgTimer = 0;
  function message(text, kind) {
    const m = $("message");
    m.textContent = text;
    m.dataset.kind = kind || "info";
    m.hidden = false;
    clearTimeout(msgTimer);
    if (kind !== "error") msgTimer = setTimeout(() => { m.hidden = true; }, 6000);
  }

  // ---- API ------------------------------------------------------------

  class APIError extends Error {
    constructor(status, title, detail) {
      super(detail ? `${title}: ${detail}` : title);
      this.status = status;
      this.title = title;
      this.detail = detail;
    }
  }

  async function api(method, path, body) {
    const headers = {};
    if (state.token) headers.Authorization = "Bearer " + state.token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let res;
    try {
      res = await fetch(API + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    } catch (e) {
      throw new APIError(0, "server unreachable", String(e.message || e));
    }
    if (res.status === 401) {
      showLogin("The token was refused.");
      throw new APIError(401, "unauthorized", "sign in again");
    }
    const text = await res.text();
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (!res.ok) {
      throw new APIError(res.status, (data && data.title) || res.statusText, data && data.detail);
    }
    return data;
  }

  // withTicket returns path with a ticket for it when the API needs a
  // token (EventSource and <audio> cannot send the Authorization header).
  async function withTicket(path, query) {
    const q = new URLSearchParams(query || {});
    if (state.token) {
      const t = await api("POST", "/tickets", { path: API + path });
      q.set("ticket", t.ticket);
    }
    const s = q.toString();
    return API + path + (s ? "?" + s : "");
  }

  // act runs an operator action and reports its outcome (fn may return
  // the text to show); what is acted on (a call, an orbit, a
  // participant) may be gone already: gone says so for a 404.
  async function act(what, fn, gone) {
    try {
      const said = await fn();
      message(typeof said === "string" ? said : what + ": done.", "ok");
      return true;
    } catch (e) {
      if (e.status === 404 && gone) message(gone + " (" + e.message + ")", "error");
      else message(what + " failed: " + e.message, "error");
      return false;
    }
  }

  // ---- login ----------------------------------------------------------

  function showLogin(why) {
    closeEvents();
    $("views").hidden = true;
    $("login").hidden = false;
    $("login-error").textContent = why || "";
    $("login-token").focus();
    setStatus("offline", "signed out");
  }

  $("login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.token = $("login-token").value;
    $("login-token").value = "";
    sessionStorage.setItem("switchboard.token", state.token);
    start();
  });

  async function start() {
    try {
      await api("GET", "/version");
    } catch (e) {
      if (e.status === 401) return; // showLogin did it
      setStatus("offline", e.message);
      return;
    }
    $("login").hidden = true;
    $("views").hidden = false;
    openEvents();
    await Promise.all([loadCalls(), loadOrbits(), loadConfs(), loadRecs()]);
    document.body.dataset.ready = "true";
  }

  // ---- events ---------------------------------------------------------

  function setStatus(s, text) {
    const e = $("status");
    e.dataset.state = s;
    e.textContent = text;
  }

  function closeEvents() {
    if (state.source) state.source.close();
    state.source = null;
  }

  async function openEvents() {
    closeEvents();
    setStatus("connecting", "connecting");
    let url;
    try {
      url = await withTicket("/events", state.lastEventID ? { last_event_id: state.lastEventID } : {});
    } catch (e) {
      setStatus("offline", "offline");
      setTimeout(openEvents, 2000);
      return;
    }
    const src = new EventSource(url);
    state.source = src;
    src.onopen = () => setStatus("live", "live");
    src.onerror = () => {
      if (src !== state.source) return;
      // The browser reconnects by itself (with Last-Event-ID) unless the
      // request failed: then the ticket may have expired; get another.
      if (src.readyState === EventSource.CLOSED) {
        setStatus("offline", "reconnecting");
        setTimeout(() => { if (src === state.source) openEvents(); }, 1000);
      } else {
        setStatus("connecting", "reconnecting");
      }
    };
    for (const type of ["call", "park", "conference", "recording"]) {
      src.addEventListener(type, (ev) => {
        state.lastEventID = ev.lastEventId;
        let e;
        try { e = JSON.parse(ev.data); } catch (x) { return; }
        if (!(e.type === "conference" && e.data && e.data.event === "talking")) logEvent(e); // talking shows in the roster
        handle(e);
      });
    }
    src.addEventListener("gap", () => {
      logEvent({ type: "gap", time: new Date().toISOString(), data: {} });
      loadCalls(); loadOrbits(); loadConfs(); loadRecs();
    });
  }

  function handle(e) {
    const d = e.data || {};
    switch (e.type) {
      case "call": callEvent(d); break;
      case "park": loadOrbits(); break;
      case "conference":
        if (d.event === "talking") {
          // The talking indicator: no refetch, the event says it all.
          const p = state.conf && state.conf.id === d.conference && (state.conf.roster || []).find((x) => x.id === d.participant);
          if (p) { p.talking = !!d.talking; renderConf(); }
          break;
        }
        loadConfs();
        if (d.conference === state.confSel) loadConf();
        // A hidden participant coming or going is usually a recorder.
        if ([...(d.joined || []), ...(d.left || [])].some((p) => p.hidden)) loadRecs();
        break;
      case "recording":
        loadRecs();
        loadConfs();
        if (d.conference && d.conference === state.confSel) loadConf();
        break;
    }
  }

  function summary(e) {
    const d = e.data || {};
    switch (e.type) {
      case "call": return `${d.from} → ${d.to} (${d.app || "-"}): ${d.previous} → ${d.state}${d.reason ? " (" + d.reason + ")" : ""}`;
      case "park": return `orbit ${d.orbit}: ${d.event}; ${d.parked} parked by ${d.parker}${d.by ? ", by " + d.by : ""}`;
      case "conference": {
        const names = (l) => (l || []).map((p) => p.display_name || p.uri).join(", ");
        let s = `conference ${d.conference}: ${d.event}`;
        if (d.joined) s += `; joined ${names(d.joined)}`;
        if (d.left) s += `; left ${names(d.left)}`;
        if (d.updated) s += `; ${(d.updated || []).map((p) => (p.display_name || p.uri) + (p.muted ? " muted" : " unmuted")).join(", ")}`;
        return s;
      }
      case "recording": return `recording${d.id ? " " + d.id : ""}${d.conference ? " of conference " + d.conference : ""}: ${d.event}`;
      default: return "events were missed: reloaded";
    }
  }

  function logEvent(e) {
    const log = $("event-log");
    const t = e.time ? new Date(e.time) : new Date();
    log.prepend(el("li", { class: "ev-" + e.type, dataset: { type: e.type } }, `${t.toLocaleTimeString()} ${e.type}: ${summary(e)}`));
    while (log.childElementCount > LOG_MAX) log.lastElementChild.remove();
  }

  // ---- formatting -----------------------------------------------------

  function dur(seconds) {
    if (!isFinite(seconds)) return "";
    const neg = seconds < 0;
    seconds = Math.floor(Math.abs(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
    const two = (n) => String(n).padStart(2, "0");
    return (neg ? "-" : "") + (h ? h + ":" + two(m) : m) + ":" + two(s);
  }
  const since = (t) => (Date.now() - Date.parse(t)) / 1000;
  const party = (name, uri) => (name ? `${name} <${uri}>` : uri || "");

  // ---- calls ----------------------------------------------------------

  async function loadCalls() {
    try {
      const d = await api("GET", "/calls");
      const keep = new Map();
      for (const [id, c] of state.calls) if (c.ended) keep.set(id, c);
      state.calls = keep;
      for (const c of d.calls) state.calls.set(c.id, c);
    } catch (e) {
      message("Cannot list calls: " + e.message, "error");
    }
    renderCalls();
  }

  const detailQueue = new Set();
  let detailTimer = 0;
  // refreshCall refetches a call's details (codec, RTP statistics), at
  // most once per 200 ms per call, and only for calls on the page shown.
  function refreshCall(id) {
    detailQueue.add(id);
    if (detailTimer) return;
    detailTimer = setTimeout(async () => {
      detailTimer = 0;
      const ids = [...detailQueue];
      detailQueue.clear();
      const shown = new Set(pageCalls().map((c) => c.id));
      await Promise.all(ids.filter((id) => shown.has(id)).map(async (id) => {
        try {
          const c = await api("GET", "/calls/" + encodeURIComponent(id));
          const old = state.calls.get(id);
          if (old && !old.ended) state.calls.set(id, c);
        } catch (e) { /* ended meanwhile: its event says so */ }
      }));
      renderCalls();
    }, 200);
  }

  function callEvent(d) {
    const id = d.call_id;
    let c = state.calls.get(id);
    if (d.state === "terminated" && /record/.test(d.app || "")) loadRecs(); // sip:record@ leaves a recording
    if (d.state === "terminated") {
      if (c && !c.ended) {
        c.ended = Date.now();
        c.state = "ended";
        setTimeout(() => {
          const x = state.calls.get(id);
          if (x && x.ended) { state.calls.delete(id); renderCalls(); }
        }, ENDED_KEEP_MS);
      }
    } else {
      if (!c) {
        c = { id, app: d.app, from: d.from, to: d.to, since: new Date().toISOString(), rtp: {} };
        state.calls.set(id, c);
      }
      c.state = d.state;
      if (c.from !== d.from) { c.from = d.from; c.from_name = ""; }
      if (c.to !== d.to) { c.to = d.to; c.to_name = ""; }
      c.app = d.app;
      if (d.state === "established" && !c.established) c.established = new Date().toISOString();
      refreshCall(id);
    }
    renderCallsSoon();
  }

  let renderPending = false;
  function renderCallsSoon() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(() => { renderPending = false; renderCalls(); });
  }

  function filteredCalls() {
    const f = $("calls-filter").value.trim().toLowerCase();
    const all = [...state.calls.values()];
    all.sort((a, b) => (a.since < b.since ? -1 : a.since > b.since ? 1 : 0));
    if (!f) return all;
    return all.filter((c) => [c.from, c.to, c.from_name, c.to_name, c.app, c.id].some((s) => (s || "").toLowerCase().includes(f)));
  }

  function pageCalls() {
    const all = filteredCalls();
    const pages = Math.max(1, Math.ceil(all.length / PAGE));
    state.callPage = Math.min(state.callPage, pages - 1);
    return all.slice(state.callPage * PAGE, state.callPage * PAGE + PAGE);
  }

  function renderCalls() {
    const all = filteredCalls();
    const live = [...state.calls.values()].filter((c) => !c.ended).length;
    $("count-calls").textContent = live;
    const rows = pageCalls();
    const first = state.callPage * PAGE;
    $("calls-range").textContent = all.length ? `${first + 1}–${first + rows.length} of ${all.length} calls` : "no calls";
    if (state.callSel && !rows.some((c) => c.id === state.callSel)) state.callSel = rows.length ? rows[0].id : null;
    if (!state.callSel && rows.length) state.callSel = rows[0].id;
    const body = $("calls-body");
    body.replaceChildren(...rows.map((c) => {
      const rtp = c.rtp || {};
      const got = rtp.packets_received || 0, lost = rtp.packets_lost || 0;
      const loss = got + lost ? ((100 * lost) / (got + lost)).toFixed(1) + "%" : "";
      const tr = el("tr", { class: [c.id === state.callSel ? "selected" : "", c.ended ? "ended" : ""].join(" ").trim(), dataset: { id: c.id },
        onclick: () => { state.callSel = c.id; renderCalls(); } },
      el("td", { class: "from", title: c.from }, party(c.from_name, c.from)),
      el("td", { class: "to", title: c.to }, party(c.to_name, c.to)),
      el("td", { class: "app" }, c.app || ""),
      el("td", { class: "state" }, c.state),
      el("td", { class: "duration", dataset: { since: c.established || c.since } }, c.ended ? "" : dur(since(c.established || c.since))),
      el("td", { class: "codec" }, c.codec || ""),
      el("td", { class: "loss" }, loss),
      el("td", { class: "jitter" }, rtp.jitter_seconds ? (rtp.jitter_seconds * 1000).toFixed(1) + " ms" : ""),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "hangup", onclick: (ev) => { ev.stopPropagation(); hangUpCall(c.id); } }, "Hang up"),
        el("button", { type: "button", class: "transfer", onclick: (ev) => { ev.stopPropagation(); transferCall(c.id); } }, "Transfer"),
        el("button", { type: "button", class: "park", onclick: (ev) => { ev.stopPropagation(); parkCall(c.id); } }, "Park")));
      return tr;
    }));
    $("calls-prev").disabled = state.callPage === 0;
    $("calls-next").disabled = first + rows.length >= all.length;
  }

  const callGone = (id) => {
    const c = state.calls.get(id);
    return `The call ${c ? "from " + party(c.from_name, c.from) + " " : ""}has already ended`;
  };
  const path = (...parts) => "/" + parts.map(encodeURIComponent).join("/");

  function hangUpCall(id) {
    return act("Hang up", () => api("DELETE", path("calls", id)), callGone(id));
  }
  function transferCall(id) {
    const to = $("calls-target").value.trim();
    if (!to) {
      message("Type the URI to transfer to in \"Transfer to\" first.", "error");
      $("calls-target").focus();
      return;
    }
    return act("Transfer to " + to, () => api("POST", path("calls", id, "transfer"), { to }), callGone(id));
  }
  function parkCall(id) {
    return act("Park", async () => {
      const o = await api("POST", path("calls", id, "park"), {});
      return "Parked on orbit " + o.orbit + ".";
    }, callGone(id));
  }

  $("calls-filter").addEventListener("input", () => { state.callPage = 0; renderCalls(); });
  $("calls-prev").addEventListener("click", () => { state.callPage = Math.max(0, state.callPage - 1); renderCalls(); refreshPage(); });
  $("calls-next").addEventListener("click", () => { state.callPage++; renderCalls(); refreshPage(); });
  function refreshPage() { for (const c of pageCalls()) if (!c.ended) refreshCall(c.id); }

  // ---- orbits (busy-lamp field) ---------------------------------------

  async function loadOrbits() {
    try {
      const d = await api("GET", "/orbits");
      state.orbits = d;
    } catch (e) {
      state.orbits = { orbits: [], ranges: [], capacity: 0, pickup_timeout_seconds: 0, disabled: e.status === 404 };
      if (e.status !== 404) message("Cannot list orbits: " + e.message, "error");
    }
    renderOrbits();
  }

  // allOrbits lists every orbit number of every range, in order (ends
  // have the same digits; leading zeros kept). Numbers are kept as
  // strings of digits and counted with BigInt, as orbits may be 18 digits.
  function allOrbits() {
    const out = [];
    for (const r of state.orbits.ranges || []) {
      const w = r.start.length;
      for (let n = BigInt(r.start); n <= BigInt(r.end); n++) out.push(n.toString().padStart(w, "0"));
    }
    return out;
  }

  function renderOrbits() {
    const o = state.orbits;
    const parked = new Map((o.orbits || []).map((e) => [e.orbit, e]));
    $("count-orbits").textContent = parked.size;
    if (o.disabled) {
      $("orbits-summary").textContent = "The park app is not enabled on this server.";
      $("blf").replaceChildren();
      return;
    }
    const all = allOrbits();
    const pages = Math.max(1, Math.ceil(all.length / BLF_PAGE));
    state.orbitPage = Math.min(state.orbitPage, pages - 1);
    const page = all.slice(state.orbitPage * BLF_PAGE, (state.orbitPage + 1) * BLF_PAGE);
    $("orbits-summary").textContent = `${parked.size} of ${o.capacity} orbits occupied (${(o.ranges || []).map((r) => r.start + "–" + r.end).join(", ")}); pickup timeout ${dur(o.pickup_timeout_seconds)}`;
    $("orbits-range").textContent = all.length > BLF_PAGE ? `page ${state.orbitPage + 1} of ${pages}` : "";
    $("orbits-prev").hidden = $("orbits-next").hidden = all.length <= BLF_PAGE;
    $("blf").replaceChildren(...page.map((num) => {
      const e = parked.get(num);
      const b = el("button", { type: "button", role: "gridcell", class: "lamp" + (e ? " occupied" : "") + (num === state.orbitSel ? " selected" : ""),
        dataset: { orbit: num, state: e ? "occupied" : "free" }, "aria-label": `orbit ${num} ${e ? "occupied" : "free"}`,
        onclick: () => { state.orbitSel = num; renderOrbits(); } },
      el("span", { class: "num" }, num));
      if (e) {
        b.append(el("span", { class: "parked", title: e.parked }, e.parked),
          el("span", { class: "parker", title: e.parker }, e.parker ? "by " + e.parker : "parked itself"),
          el("span", { class: "since", dataset: { since: e.since } }, "parked " + dur(since(e.since))),
          el("span", { class: "timeout", dataset: { since: e.since } }, "pickup in " + dur(o.pickup_timeout_seconds - since(e.since))));
      } else {
        b.append(el("span", { class: "free" }, "free"));
      }
      return b;
    }));
    const sel = parked.get(state.orbitSel);
    $("orbit-detail").replaceChildren(state.orbitSel ? el("p", {}, sel
      ? `Orbit ${sel.orbit}: ${sel.parked}, parked by ${sel.parker || "itself (no parker known)"} at ${new Date(sel.since).toLocaleTimeString()} (Call-ID ${sel.call_id})`
      : `Orbit ${state.orbitSel} is free.`) : el("p", { class: "empty" }, "Select an orbit."));
  }

  function retrieveOrbit() {
    const orbit = state.orbitSel;
    const uri = $("orbits-target").value.trim();
    if (!orbit) return message("Select an orbit first.", "error");
    if (!uri) {
      $("orbits-target").focus();
      return message("Type the URI to retrieve to in \"Retrieve to\" first.", "error");
    }
    message(`Calling ${uri} for orbit ${orbit}…`, "info");
    return act(`Retrieve orbit ${orbit} to ${uri}`, () => api("POST", path("orbits", orbit, "retrieve"), { uri }), `Orbit ${orbit} is empty: the call was retrieved or hung up`);
  }
  function hangUpOrbit() {
    const orbit = state.orbitSel;
    if (!orbit) return message("Select an orbit first.", "error");
    return act(`Hang up orbit ${orbit}`, () => api("DELETE", path("orbits", orbit)), `Orbit ${orbit} is empty: the call was retrieved or hung up`);
  }
  $("orbit-retrieve").addEventListener("click", retrieveOrbit);
  $("orbit-hangup").addEventListener("click", hangUpOrbit);
  $("orbits-prev").addEventListener("click", () => { state.orbitPage = Math.max(0, state.orbitPage - 1); renderOrbits(); });
  $("orbits-next").addEventListener("click", () => { state.orbitPage++; renderOrbits(); });

  // ---- conferences ----------------------------------------------------

  async function loadConfs() {
    try {
      state.confs = (await api("GET", "/conferences")).conferences;
    } catch (e) {
      state.confs = [];
      if (e.status !== 404) message("Cannot list conferences: " + e.message, "error");
    }
    if (!state.confSel && state.confs.length) {
      state.confSel = state.confs[0].id;
      loadConf();
    }
    renderConfs();
  }

  async function loadConf() {
    const id = state.confSel;
    if (!id) return;
    try {
      const c = await api("GET", path("conferences", id));
      if (state.confSel === id) state.conf = c;
    } catch (e) {
      if (state.confSel === id) state.conf = null;
    }
    renderConf();
  }

  function renderConfs() {
    $("count-conferences").textContent = state.confs.length;
    $("conf-list").replaceChildren(...(state.confs.length ? state.confs.map((c) => el("li", {
      class: c.id === state.confSel ? "selected" : "", dataset: { id: c.id },
      onclick: () => { state.confSel = c.id; state.partSel = null; renderConfs(); loadConf(); } },
    c.id, el("span", { class: "badge" }, c.participants),
    c.locked ? el("span", { class: "badge" }, "locked") : null,
    c.recording ? el("span", { class: "badge rec" }, "REC") : null)) : [el("li", { class: "empty" }, "No conferences.")]));
  }

  function renderConf() {
    const c = state.conf;
    const d = $("conf-detail");
    if (!c || c.id !== state.confSel) {
      d.replaceChildren(el("p", { class: "empty" }, state.confSel ? `Conference ${state.confSel} has ended.` : "No conference selected."));
      return;
    }
    const roster = c.roster || [];
    if (state.partSel && !roster.some((p) => p.id === state.partSel)) state.partSel = null;
    if (!state.partSel) { const p = roster.find((p) => !p.hidden); if (p) state.partSel = p.id; }
    d.replaceChildren(
      el("h2", {}, "Conference " + c.id, c.locked ? el("span", { class: "badge" }, "locked") : null, c.recording ? el("span", { class: "badge rec" }, "REC") : null),
      el("p", {}, c.uri),
      el("div", { class: "toolbar" },
        el("button", { type: "button", id: "conf-lock", onclick: () => lockConf() }, c.locked ? "Unlock (l)" : "Lock (l)"),
        el("button", { type: "button", id: "conf-record", onclick: () => recordConf() }, c.recording ? "Stop recording" : "Start recording")),
      el("table", { id: "roster" },
        el("thead", {}, el("tr", {}, el("th", {}, "Participant"), el("th", {}, "URI"), el("th", {}, "Role"), el("th", {}, "Joined"), el("th", {}, "Status"), el("th", {}, "Actions"))),
        el("tbody", {}, roster.map((p) => el("tr", { class: p.id === state.partSel ? "selected" : "", dataset: { id: p.id, uri: p.uri, hidden: String(p.hidden), muted: String(p.muted) },
          onclick: () => { state.partSel = p.id; renderConf(); } },
        el("td", { class: "name" }, p.display_name || ""),
        el("td", { class: "uri", title: p.uri }, p.uri),
        el("td", {}, p.role),
        el("td", {}, new Date(p.joined_at).toLocaleTimeString()),
        el("td", {}, p.hidden ? el("span", { class: "badge hidden-p" }, "hidden") : null,
          p.trusted ? el("span", { class: "badge" }, "trusted") : null,
          p.muted ? el("span", { class: "badge muted-p" }, "muted") : null,
          p.talking ? el("span", { class: "badge talking" }, "talking") : null),
        el("td", { class: "actions" },
          el("button", { type: "button", class: "mute", onclick: (ev) => { ev.stopPropagation(); mutePart(p.id, !p.muted); } }, p.muted ? "Unmute" : "Mute"),
          el("button", { type: "button", class: "eject", onclick: (ev) => { ev.stopPropagation(); ejectPart(p.id); } }, "Eject")))))));
  }

  const partGone = "The participant has already left";
  async function mutePart(pid, mute) {
    const id = state.confSel;
    if (await act(mute ? "Mute" : "Unmute", () => api("POST", path("conferences", id, "participants", pid, mute ? "mute" : "unmute")), partGone)) loadConf();
  }
  function ejectPart(pid) {
    return act("Eject", () => api("DELETE", path("conferences", state.confSel, "participants", pid)), partGone);
  }
  async function lockConf() {
    const c = state.conf;
    if (!c) return;
    if (await act(c.locked ? "Unlock" : "Lock", () => api("POST", path("conferences", c.id, c.locked ? "unlock" : "lock")), "The conference has ended")) loadConf();
  }
  async function recordConf() {
    const c = state.conf;
    if (!c) return;
    const ok = await act(c.recording ? "Stop recording" : "Start recording",
      () => api(c.recording ? "DELETE" : "POST", path("conferences", c.id, "recording")), "The conference has ended");
    if (ok) { loadConf(); loadConfs(); }
  }

  // ---- recordings -----------------------------------------------------

  async function loadRecs() {
    try {
      const rs = (await api("GET", "/recordings")).recordings;
      rs.sort((a, b) => (a.start < b.start ? 1 : a.start > b.start ? -1 : 0));
      state.recs = rs;
    } catch (e) {
      state.recs = [];
      if (e.status !== 404) message("Cannot list recordings: " + e.message, "error");
    }
    renderRecs();
  }

  function renderRecs() {
    $("count-recordings").textContent = state.recs.length;
    const pages = Math.max(1, Math.ceil(state.recs.length / PAGE));
    state.recPage = Math.min(state.recPage, pages - 1);
    const rows = state.recs.slice(state.recPage * PAGE, (state.recPage + 1) * PAGE);
    $("recs-range").textContent = state.recs.length ? `${state.recPage * PAGE + 1}–${state.recPage * PAGE + rows.length} of ${state.recs.length}` : "no recordings";
    if (!rows.some((r) => r.id === state.recSel)) state.recSel = rows.length ? rows[0].id : null;
    $("recs-body").replaceChildren(...rows.map((r) => el("tr", { class: r.id === state.recSel ? "selected" : "", dataset: { id: r.id },
      onclick: () => { state.recSel = r.id; renderRecs(); } },
    el("td", {}, new Date(r.start).toLocaleString()),
    el("td", {}, r.conference_id ? "conference " + r.conference_id : r.call_id ? "call " + r.call_id : ""),
    el("td", { title: (r.parties || []).join(", ") }, (r.parties || []).join(", ")),
    el("td", {}, r.active ? "recording" : dur(r.duration_seconds)),
    el("td", {}, `${r.layout}, ${r.sample_rate} Hz, ${(r.files || []).length} file(s)`),
    el("td", {}, r.active ? "active" : (r.stop_reason || "done") + (r.error ? ": " + r.error : "")),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "play", disabled: r.active || !(r.files || []).length, onclick: (ev) => { ev.stopPropagation(); play(r); } }, "Play"),
      el("button", { type: "button", class: "download", disabled: !(r.files || []).length, onclick: (ev) => { ev.stopPropagation(); download(r); } }, "Download")))));
    $("recs-prev").disabled = state.recPage === 0;
    $("recs-next").disabled = (state.recPage + 1) * PAGE >= state.recs.length;
  }

  async function play(r) {
    let url;
    try {
      url = await withTicket(path("recordings", r.id, "audio"));
    } catch (e) {
      return message("Cannot play: " + e.message, "error");
    }
    $("player").hidden = false;
    $("player-title").textContent = `Recording ${r.id} (${dur(r.duration_seconds)})`;
    const a = $("player-audio");
    a.dataset.id = r.id;
    a.dataset.state = "loading";
    a.src = url;
    a.play().catch((e) => message("Cannot play: " + e.message, "error"));
  }
  const audio = $("player-audio");
  for (const t of ["playing", "pause", "ended", "error"]) audio.addEventListener(t, () => { audio.dataset.state = t; });
  audio.addEventListener("error", () => message("The recording could not be played.", "error"));

  async function download(r) {
    try {
      const url = await withTicket(path("recordings", r.id, "audio"));
      const a = el("a", { href: url, download: "" });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      message("Cannot download: " + e.message, "error");
    }
  }
  $("recs-prev").addEventListener("click", () => { state.recPage = Math.max(0, state.recPage - 1); renderRecs(); });
  $("recs-next").addEventListener("click", () => { state.recPage++; renderRecs(); });

  // ---- views and keys -------------------------------------------------

  function show(view) {
    state.view = view;
    for (const b of document.querySelectorAll("#tabs button")) {
      if (b.dataset.view === view) b.setAttribute("aria-current", "page");
      else b.removeAttribute("aria-current");
    }
    for (const s of document.querySelectorAll(".view")) s.hidden = s.id !== "view-" + view;
    document.body.dataset.view = view;
  }
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => show(b.dataset.view));

  function move(delta) {
    const pick = (list, cur) => {
      if (!list.length) return null;
      const i = list.indexOf(cur);
      return list[Math.max(0, Math.min(list.length - 1, i < 0 ? 0 : i + delta))];
    };
    switch (state.view) {
      case "calls": state.callSel = pick(pageCalls().map((c) => c.id), state.callSel); renderCalls(); break;
      case "orbits": {
        const page = allOrbits().slice(state.orbitPage * BLF_PAGE, (state.orbitPage + 1) * BLF_PAGE);
        state.orbitSel = pick(page, state.orbitSel); renderOrbits(); break;
      }
      case "conferences": state.partSel = pick(((state.conf && state.conf.roster) || []).map((p) => p.id), state.partSel); renderConf(); break;
      case "recordings": state.recSel = pick(state.recs.slice(state.recPage * PAGE, (state.recPage + 1) * PAGE).map((r) => r.id), state.recSel); renderRecs(); break;
    }
  }
  function turn(delta) {
    switch (state.view) {
      case "calls": state.callPage = Math.max(0, state.callPage + delta); renderCalls(); refreshPage(); break;
      case "orbits": state.orbitPage = Math.max(0, state.orbitPage + delta); renderOrbits(); break;
      case "recordings": state.recPage = Math.max(0, state.recPage + delta); renderRecs(); break;
    }
  }
  const selPart = () => ((state.conf && state.conf.roster) || []).find((p) => p.id === state.partSel);

  document.addEventListener("keydown", (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) {
      if (ev.key === "Escape") t.blur();
      return;
    }
    const views = ["calls", "orbits", "conferences", "recordings", "events"];
    const k = ev.key;
    let done = true;
    if (k >= "1" && k <= "5") show(views[Number(k) - 1]);
    else if (k === "j" || k === "ArrowDown") move(1);
    else if (k === "k" || k === "ArrowUp") move(-1);
    else if (k === "]") turn(1);
    else if (k === "[") turn(-1);
    else if (k === "?") $("shortcuts").open = !$("shortcuts").open;
    else if (k === "Escape") $("message").hidden = true;
    else if (k === "/" && state.view === "calls") $("calls-filter").focus();
    else if ((k === "/" || k === "u") && state.view === "orbits") $("orbits-target").focus();
    else if (k === "u" && state.view === "calls") $("calls-target").focus();
    else if (state.view === "calls" && state.callSel && k === "h") hangUpCall(state.callSel);
    else if (state.view === "calls" && state.callSel && k === "t") transferCall(state.callSel);
    else if (state.view === "calls" && state.callSel && k === "p") parkCall(state.callSel);
    else if (state.view === "orbits" && k === "r") retrieveOrbit();
    else if (state.view === "orbits" && k === "h") hangUpOrbit();
    else if (state.view === "conferences" && k === "m" && selPart()) mutePart(state.partSel, !selPart().muted);
    else if (state.view === "conferences" && k === "e" && selPart()) ejectPart(state.partSel);
    else if (state.view === "conferences" && k === "l") lockConf();
    else if (state.view === "recordings" && k === " " && state.recSel) {
      if (audio.dataset.id === state.recSel && !audio.paused) audio.pause();
      else { const r = state.recs.find((x) => x.id === state.recSel); if (r) play(r); }
    } else done = false;
    if (done) ev.preventDefault();
  });

  // Durations and park timers tick in place, without a request: only the
  // text of the visible cells changes.
  setInterval(() => {
    for (const e of document.querySelectorAll("#calls-body td.duration[data-since]")) {
      if (!e.closest("tr").classList.contains("ended")) e.textContent = dur(since(e.dataset.since));
    }
    for (const e of document.querySelectorAll("#blf span.since")) e.textContent = "parked " + dur(since(e.dataset.since));
    for (const e of document.querySelectorAll("#blf span.timeout")) e.textContent = "pickup in " + dur(state.orbits.pickup_timeout_seconds - since(e.dataset.since));
  }, 1000);

  show("calls");
  start();
})();
