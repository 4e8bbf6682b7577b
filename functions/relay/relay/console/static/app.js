/* The tollway customer console: hand-written, no framework, no build. Every value from the server is put
   on the page as text (textContent / attributes), never as HTML, so stored and reflected strings cannot
   run as script; the CSP forbids inline script on top of that. */
"use strict";
(function () {
  const I18N = window.TOLLWAY_I18N;
  const state = { lang: "en", me: null, config: null, csrf: null, keys: [] };
  const main = document.getElementById("main");
  const PG_KEY = "tollway.playground.key";
  // The site's base URL as the browser reached it (behind API Gateway it includes the stage path).
  const BASE = new URL(".", location.href).href.replace(/\/$/, "");

  // ---- language -------------------------------------------------------------------------------
  function pickLang() {
    const saved = localStorage.getItem("tollway.lang");
    if (saved && I18N[saved]) return saved;
    const langs = navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || "en"];
    for (const l of langs) { if (String(l).toLowerCase().startsWith("zh")) return "zh-CN"; if (String(l).toLowerCase().startsWith("en")) return "en"; }
    return "en";
  }
  function t(key, vars) {
    let s = (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
    if (vars) for (const k of Object.keys(vars)) s = s.split("{" + k + "}").join(String(vars[k]));
    return s;
  }

  // ---- DOM ------------------------------------------------------------------------------------
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  function render(...nodes) { main.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); }
  function msg(kind, text) { return h("div", { class: "msg " + kind, role: kind === "error" ? "alert" : "status" }, text); }
  function field(labelText, input) { const id = "f-" + Math.random().toString(36).slice(2); input.id = id; return h("div", {}, h("label", { for: id }, labelText), input); }
  function table(headers, rows) {
    return h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { class: x.num ? "num" : null }, x.label || x)))),
      h("tbody", {}, rows)));
  }
  function fmtTime(iso) { if (!iso) return ""; const d = new Date(iso); return isNaN(d) ? String(iso) : d.toLocaleString(state.lang); }
  function usd(s) { return "$" + s; }

  // ---- API ------------------------------------------------------------------------------------
  class ApiError extends Error { constructor(status, body) { super((body && body.error && body.error.message) || t("error")); this.status = status; this.body = body; } }
  async function api(method, path, body) {
    const headers = { "X-Tollway-Console": "1" };
    if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch("console/api/" + path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (res.status === 401 && !path.startsWith("sign")) { state.me = null; state.csrf = null; go("signin"); throw new ApiError(401, data); }
    if (!res.ok) throw new ApiError(res.status, data);
    return data;
  }
  function errorBox(err) { return msg("error", err instanceof ApiError ? err.message : t("error")); }

  // ---- chrome ---------------------------------------------------------------------------------
  const PAGES = ["dashboard", "keys", "usage", "topup", "models", "quickstart", "playground"];
  function chrome(page) {
    const nav = document.getElementById("nav");
    const signedIn = !!state.me;
    nav.hidden = !signedIn;
    nav.replaceChildren(...PAGES.map((p) => h("a", { href: "#/" + p, class: p === page ? "on" : null, "data-page": p }, t(p))));
    const out = document.getElementById("signout");
    out.hidden = !signedIn; out.textContent = t("signout");
    document.documentElement.lang = state.lang;
    document.getElementById("lang").value = state.lang;
    const cfg = state.config || {};
    document.getElementById("site-name").textContent = cfg.site_name || "tollway";
    document.title = (page ? t(page) + " · " : "") + (cfg.site_name || "tollway");
    if (cfg.logo_url) document.getElementById("logo").src = cfg.logo_url;
    document.getElementById("footer").textContent = cfg.footer || "";
  }
  function route() {
    const raw = location.hash.replace(/^#\/?/, "");
    const [page, query] = raw.split("?");
    return { page: page || "", params: new URLSearchParams(query || "") };
  }
  function go(page) { if (location.hash !== "#/" + page) location.hash = "#/" + page; else show(); }

  async function show() {
    const { page, params } = route();
    const open = ["signin", "signup", "mail"];
    if (!state.me && !open.includes(page)) {
      try { await loadMe(); } catch (e) { state.me = null; }
      if (!state.me) { chrome("signin"); return pages.signin(params); }
    }
    const name = pages[page] ? page : (state.me ? "dashboard" : "signin");
    chrome(name);
    render(h("p", { class: "muted" }, t("loading")));
    try { await pages[name](params); performance.mark("console-rendered:" + name); } catch (err) { if (!(err instanceof ApiError && err.status === 401)) render(errorBox(err)); }
  }
  async function loadMe() { const me = await api("GET", "me"); state.me = me; state.csrf = me.csrf; }

  // ---- pages ----------------------------------------------------------------------------------
  const pages = {};

  pages.signin = function (params) {
    const email = h("input", { type: "email", autocomplete: "username", required: true, name: "email" });
    const password = h("input", { type: "password", autocomplete: "current-password", required: true, name: "password" });
    const box = h("div");
    if (params.get("verified") === "1") box.append(msg("ok", t("verified_ok")));
    if (params.get("verified") === "0") box.append(msg("error", t("verified_bad")));
    if (params.get("out") === "1") box.append(msg("info", t("signed_out")));
    const form = h("form", { class: "card auth", onsubmit: async (ev) => {
      ev.preventDefault(); box.replaceChildren();
      try {
        const r = await api("POST", "signin", { email: email.value, password: password.value });
        state.csrf = r.csrf; await loadMe(); go("dashboard");
      } catch (err) { box.append(errorBox(err)); }
    } }, h("h1", {}, t("signin")), box, field(t("email"), email), field(t("password"), password),
      h("div", { class: "form-actions" }, h("button", { type: "submit", id: "signin-submit" }, t("signin")),
        h("span", { class: "muted" }, t("no_account"), " ", h("a", { href: "#/signup" }, t("signup")))));
    render(form);
  };

  pages.signup = async function () {
    const cfg = state.config;
    const box = h("div");
    if (cfg.signup === "closed") { render(h("div", { class: "card auth" }, h("h1", {}, t("signup")), msg("info", t("signup_closed")))); return; }
    const email = h("input", { type: "email", autocomplete: "username", required: true, name: "email" });
    const password = h("input", { type: "password", autocomplete: "new-password", required: true, minlength: "10", name: "password" });
    const invite = h("input", { type: "text", name: "invite", autocomplete: "off" });
    const form = h("form", { class: "card auth", onsubmit: async (ev) => {
      ev.preventDefault(); box.replaceChildren();
      const body = { email: email.value, password: password.value };
      if (cfg.signup === "invite") body.invite = invite.value;
      try {
        const r = await api("POST", "signup", body);
        if (r.status === "verify_email") {
          box.append(msg("ok", t("verify_sent")));
          if (cfg.local) box.append(h("p", {}, h("a", { href: "#/mail" }, t("local_mail"))));
          form.querySelector("button").disabled = true;
          return;
        }
        state.csrf = r.csrf; await loadMe(); go("dashboard");
      } catch (err) { box.append(errorBox(err)); }
    } }, h("h1", {}, t("signup")),
      h("p", { class: "muted" }, t("signup_credit", { amount: usd(cfg.signup_credit_usd) })),
      cfg.signup === "invite" ? msg("info", t("signup_invite")) : null,
      box, field(t("email"), email), field(t("password") + " — " + t("password_rule"), password),
      cfg.signup === "invite" ? field(t("invite"), invite) : null,
      h("div", { class: "form-actions" }, h("button", { type: "submit", id: "signup-submit" }, t("signup")),
        h("span", { class: "muted" }, t("have_account"), " ", h("a", { href: "#/signin" }, t("signin")))));
    render(form);
  };

  pages.mail = async function () {
    const r = await api("GET", "dev/mail");
    const items = r.data.map((m) => {
      const body = String(m.body);
      const link = (body.match(/https?:\/\/\S+/) || [])[0];
      const safe = link && link.startsWith(BASE + "/") ? link : null;
      return h("div", { class: "card" }, h("div", { class: "muted" }, String(m.to), " · ", fmtTime(new Date(m.at).toISOString())),
        h("h2", {}, String(m.subject)), h("pre", {}, body), safe ? h("a", { href: safe, class: "verify-link" }, safe) : null);
    });
    render(h("h1", {}, t("mail")), items.length ? items : h("p", { class: "muted" }, t("none_yet")));
  };

  function balanceCard(me) {
    const d = me.display;
    return h("div", { class: "card stat" }, h("div", { class: "label" }, t("balance")),
      h("div", { class: "value", id: "balance" }, usd(me.balance_usd)),
      d ? h("div", { class: "sub" }, t("display_rate", { symbol: d.symbol, amount: d.amount, rate: d.rate })) : null);
  }
  function keyName(id) { const k = state.keys.find((x) => x.key_id === id); return k ? k.name : (id || ""); }
  function tokens(r, name) { return r.tokens && r.tokens[name] !== undefined ? r.tokens[name] : ""; }
  function usageRow(r) {
    return h("tr", { "data-request-id": r.request_id },
      h("td", {}, fmtTime(r.time)), h("td", { class: "mono", title: r.key_id || "" }, keyName(r.key_id)), h("td", {}, r.model || r.endpoint || ""),
      h("td", { class: "num" }, tokens(r, "input")), h("td", { class: "num" }, tokens(r, "cached")),
      h("td", { class: "num" }, tokens(r, "cache_write")), h("td", { class: "num" }, tokens(r, "output")),
      h("td", { class: "num usage-charge" }, usd(r.charge_usd)), h("td", {}, h("span", { class: "badge " + r.status, title: r.error_code || "" }, r.status)),
      h("td", { class: "mono" }, r.request_id),
      h("td", { class: "mono" }, r.task_id || "", r.refunded ? [" ", h("span", { class: "badge refund" }, t("refund"))] : null));
  }
  const USAGE_HEAD = () => [t("time"), t("key"), t("model"), { label: t("input"), num: 1 }, { label: t("cached"), num: 1 },
    { label: t("cache_write"), num: 1 }, { label: t("output"), num: 1 }, { label: t("charge"), num: 1 }, t("status"), t("request_id"), t("task")];

  pages.dashboard = async function () {
    const [d, keys] = await Promise.all([api("GET", "dashboard"), api("GET", "keys")]);
    state.keys = keys.data;
    state.me.balance_usd = d.balance_usd; state.me.display = d.display;
    render(h("h1", {}, t("dashboard")),
      h("div", { class: "grid" }, balanceCard(state.me),
        h("div", { class: "card stat" }, h("div", { class: "label" }, t("spend_today")), h("div", { class: "value" }, usd(d.spend_today_usd))),
        h("div", { class: "card stat" }, h("div", { class: "label" }, t("spend_month")), h("div", { class: "value" }, (d.complete ? "" : "≥ ") + usd(d.spend_month_usd))),
        h("div", { class: "card stat" }, h("div", { class: "label" }, t("requests_today")), h("div", { class: "value" }, d.requests_today))),
      h("h2", {}, t("recent")),
      h("div", { class: "card" }, d.recent.length ? table(USAGE_HEAD(), d.recent.map(usageRow)) : h("p", { class: "muted" }, t("none_yet"))));
  };

  function baseUrls() {
    const o = BASE;
    return h("div", { class: "card" }, h("h2", {}, t("base_urls")), h("p", { class: "muted" }, t("base_urls_hint")),
      [o + "/v1", o, o + "/v1/chat/completions"].map((u) => h("div", { class: "secret" }, h("code", {}, u), copyButton(u))));
  }
  function copyButton(text) {
    const b = h("button", { type: "button", class: "secondary copy", onclick: async () => {
      try { await navigator.clipboard.writeText(text); } catch (e) {
        const ta = h("textarea", {}, text); document.body.append(ta); ta.select(); document.execCommand("copy"); ta.remove();
      }
      b.textContent = t("copied"); setTimeout(() => { b.textContent = t("copy"); }, 1500);
    } }, t("copy"));
    return b;
  }
  function select(name, options) { return h("select", { name }, options.map(([v, label]) => h("option", { value: v }, label))); }

  // The create and edit form of a key: every per-key setting the operator's key.create has.
  function keyForm(existing, done) {
    const k = existing || {};
    const g = k.guards || {};
    const box = h("div");
    const inp = (name, value, extra) => { const el = h("input", Object.assign({ name }, extra || {})); el.value = value === null || value === undefined ? "" : String(value); return el; };
    const name = inp("name", existing ? k.name : "default", { maxlength: "200" });
    const limit = inp("limit_usd", k.remaining_usd, { inputmode: "decimal", placeholder: t("unlimited") });
    const expiry = inp("expires", k.expires_at ? new Date(k.expires_at * 1000).toISOString().slice(0, 10) : "", { type: "date" });
    const models = inp("models", (k.models || []).join(", "), { placeholder: "gpt-5.4-mini, …" });
    const mj = select("mj_mode", [["", t("default")], ["fast", "fast"], ["relax", "relax"], ["turbo", "turbo"]]);
    const img = select("mj_image_mode", [["", t("default")], ["relay", "relay"], ["origin", "origin"], ["proxy", "proxy"]]);
    mj.value = k.mj_mode || ""; img.value = k.mj_image_mode || "";
    const daily = inp("daily_cap_usd", g.daily_cap_usd, { inputmode: "decimal", placeholder: t("off") });
    const monthly = inp("monthly_cap_usd", g.monthly_cap_usd, { inputmode: "decimal", placeholder: t("off") });
    const rpm = inp("rpm", g.rpm, { inputmode: "numeric", placeholder: t("off") });
    const conc = inp("concurrency", g.concurrency, { inputmode: "numeric", placeholder: t("off") });
    const cidrs = inp("cidrs", (k.cidrs || []).join(", "), { placeholder: "203.0.113.0/24, …" });
    const list = (el) => el.value.split(",").map((s) => s.trim()).filter(Boolean);
    const form = h("form", { class: "card key-form", id: existing ? "edit-key" : "create-key", onsubmit: async (ev) => {
      ev.preventDefault(); box.replaceChildren();
      const edit = !!existing;
      const body = { name: name.value };
      // On edit an empty field means "off" (the operator commands' words); on create it is left out.
      const put = (key, value, off) => { if (value !== "") body[key] = value; else if (edit) body[key] = off; };
      put("limit_usd", limit.value.trim(), "unlimited");
      put("expires_at", expiry.value ? Math.floor(new Date(expiry.value + "T23:59:59Z").getTime() / 1000) : "", "never");
      put("models", list(models).length ? list(models) : "", ["*"]);
      put("cidrs", list(cidrs).length ? list(cidrs) : "", ["*"]);
      put("daily_cap_usd", daily.value.trim(), "off");
      put("monthly_cap_usd", monthly.value.trim(), "off");
      put("rpm", rpm.value.trim() ? Number(rpm.value) : "", 0);
      put("concurrency", conc.value.trim() ? Number(conc.value) : "", 0);
      put("mj_mode", mj.value, "");
      put("mj_image_mode", img.value, "");
      try { await done(body); } catch (err) { box.append(errorBox(err)); }
    } }, h("h2", {}, existing ? t("edit_key", { name: k.name }) : t("create_key")), box,
      h("div", { class: "row" }, field(t("key_name"), name), field(t("key_limit"), limit), field(t("key_expiry"), expiry)),
      h("div", { class: "row" }, field(t("key_models"), models), field(t("mj_mode"), mj), field(t("mj_image_mode"), img)),
      h("details", { open: existing && (g.daily_cap_usd || g.monthly_cap_usd || g.rpm || g.concurrency || k.cidrs) ? true : null },
        h("summary", {}, t("advanced")),
        h("div", { class: "row" }, field(t("daily_cap"), daily), field(t("monthly_cap"), monthly), field(t("rpm"), rpm), field(t("concurrency"), conc)),
        h("div", { class: "row" }, field(t("cidrs"), cidrs))),
      h("div", { class: "form-actions" }, h("button", { type: "submit" }, existing ? t("save") : t("create_key")),
        existing ? h("button", { type: "button", class: "secondary", onclick: () => pages.keys() }, t("cancel")) : null));
    return form;
  }

  pages.keys = async function () {
    const r = await api("GET", "keys");
    state.keys = r.data;
    const box = h("div");
    const form = keyForm(null, async (body) => {
      const k = await api("POST", "keys", body);
      sessionStorage.setItem(PG_KEY, k.key);
      await pages.keys();
      main.querySelector("#secret-box").replaceChildren(h("div", { class: "secret" }, h("strong", {}, t("secret_once")),
        h("code", { id: "new-secret" }, k.key), copyButton(k.key)));
    });
    const slot = h("div", { id: "form-slot" }, form);
    const rows = r.data.map((k) => h("tr", { "data-key-id": k.key_id },
      h("td", {}, k.name), h("td", { class: "mono" }, k.prefix), h("td", {}, h("span", { class: "badge " + k.status }, k.status)),
      h("td", { class: "num" }, k.remaining_usd === null ? t("unlimited") : usd(k.remaining_usd)),
      h("td", {}, k.expires_at ? new Date(k.expires_at * 1000).toLocaleDateString(state.lang) : t("never")),
      h("td", {}, (k.models || []).join(", ")),
      h("td", {}, h("button", { type: "button", class: "secondary edit", onclick: () => {
        slot.replaceChildren(keyForm(k, async (body) => { await api("POST", "keys/" + encodeURIComponent(k.key_id), body); await pages.keys(); }));
        slot.scrollIntoView();
      } }, t("edit")), " ",
      h("button", { type: "button", class: "secondary", onclick: async () => {
        try { await api("POST", "keys/" + encodeURIComponent(k.key_id) + (k.status === "active" ? "/disable" : "/enable")); await pages.keys(); } catch (err) { box.append(errorBox(err)); }
      } }, k.status === "active" ? t("disable") : t("enable")), " ",
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(t("confirm_delete", { name: k.name }))) return;
        try { await api("DELETE", "keys/" + encodeURIComponent(k.key_id)); await pages.keys(); } catch (err) { box.append(errorBox(err)); }
      } }, t("delete")))));
    render(h("h1", {}, t("keys")), h("div", { id: "secret-box" }), slot, box,
      h("div", { class: "card" }, rows.length ? table([t("name"), t("prefix"), t("status"), { label: t("limit"), num: 1 }, t("expires"), t("allowed_models"), t("actions")], rows) : h("p", { class: "muted" }, t("none_yet"))),
      baseUrls());
  };

  pages.usage = async function (params) {
    state.keys = (await api("GET", "keys")).data;
    const key = select("key_id", [["", t("all_keys")]].concat(state.keys.map((k) => [k.key_id, k.name + " (" + k.prefix + ")"])));
    const model = h("input", { name: "model" });
    const from = h("input", { type: "date", name: "start" });
    const to = h("input", { type: "date", name: "end" });
    key.value = params.get("key_id") || ""; model.value = params.get("model") || ""; from.value = params.get("start") || ""; to.value = params.get("end") || "";
    const body = h("tbody");
    const box = h("div");
    let cursor = null;
    const more = h("button", { type: "button", class: "secondary", hidden: true, onclick: () => load(false) }, t("more"));
    function query() {
      const q = new URLSearchParams();
      if (key.value) q.set("key_id", key.value);
      if (model.value.trim()) q.set("model", model.value.trim());
      if (from.value) q.set("start", from.value);
      if (to.value) q.set("end", new Date(new Date(to.value + "T00:00:00Z").getTime() + 86400000).toISOString().slice(0, 10));
      return q;
    }
    const csv = h("a", { class: "csv", href: "console/api/usage.csv", download: "" }, t("csv"));
    async function load(reset) {
      box.replaceChildren();
      const q = query(); q.set("limit", "20");
      if (!reset && cursor) q.set("cursor", cursor);
      csv.setAttribute("href", "console/api/usage.csv?" + query().toString());
      try {
        const r = await api("GET", "usage?" + q.toString());
        if (reset) body.replaceChildren();
        body.append(...r.data.map(usageRow));
        cursor = r.next_cursor; more.hidden = !cursor;
        if (!body.children.length) box.append(h("p", { class: "muted" }, t("none_yet")));
      } catch (err) { box.append(errorBox(err)); }
    }
    const form = h("form", { class: "card", onsubmit: (ev) => { ev.preventDefault(); cursor = null; load(true); } },
      h("div", { class: "row" }, field(t("key"), key), field(t("model"), model), field(t("from"), from), field(t("to"), to),
        h("button", { type: "submit" }, t("apply"))), h("div", { class: "form-actions" }, csv));
    const head = h("thead", {}, h("tr", {}, USAGE_HEAD().map((x) => h("th", { class: x.num ? "num" : null }, x.label || x))));
    render(h("h1", {}, t("usage")), form, h("div", { class: "card" }, h("div", { class: "table-wrap" }, h("table", { id: "usage-table" }, head, body)), box, more));
    await load(true);
  };

  pages.topup = async function () {
    const code = h("input", { name: "code", autocomplete: "off", placeholder: "rdm-…" });
    const box = h("div");
    const me = await api("GET", "me"); state.me = me; state.csrf = me.csrf;
    const hist = await api("GET", "credits");
    const form = h("form", { class: "card", onsubmit: async (ev) => {
      ev.preventDefault(); box.replaceChildren();
      try {
        const r = await api("POST", "redeem", { code: code.value });
        await pages.topup();
        main.querySelector("#redeem-result").replaceChildren(msg("ok", t("redeemed", { amount: usd(r.credited_usd), balance: usd(r.balance_usd) })));
      } catch (err) { box.append(errorBox(err)); }
    } }, h("h2", {}, t("redeem")), box, h("div", { class: "row" }, field(t("redeem_code"), code), h("button", { type: "submit" }, t("redeem"))));
    const rows = hist.data.map((e) => h("tr", {}, h("td", {}, fmtTime(e.time)), h("td", { class: "num" }, usd(e.amount_usd)), h("td", {}, e.reason === "signup" ? t("signup") : e.reason)));
    render(h("h1", {}, t("topup")), h("div", { id: "redeem-result" }), h("div", { class: "grid" }, balanceCard(me)), form,
      h("h2", {}, t("credit_history")), h("div", { class: "card" }, rows.length ? table([t("time"), { label: t("amount"), num: 1 }, t("reason")], rows) : h("p", { class: "muted" }, t("none_yet"))));
  };

  pages.models = async function () {
    const r = await api("GET", "models");
    const tokenRows = [], otherRows = [];
    // A price that includes the operator's markup says so (×2: twice the list price; the group ratio applies on top).
    const markupBadge = (markup) => markup ? [" ", h("span", { class: "badge markup", title: t("markup_title", { markup }) }, "×" + markup)] : null;
    const modelCell = (m) => h("td", { class: "mono" }, m.model, markupBadge(m.markup));
    let marked = false;
    for (const m of r.data) {
      if (m.endpoints && m.endpoints.includes("mj")) continue;  // the Midjourney table below
      if (m.markup) marked = true;
      if (m.per_million_tokens) {
        const p = m.per_million_tokens;
        tokenRows.push(h("tr", { "data-model": m.model }, modelCell(m), h("td", { class: "num" }, p.input || ""), h("td", { class: "num" }, p.cached_input || p.cached || ""), h("td", { class: "num" }, p.cache_write || ""), h("td", { class: "num" }, p.output || "")));
      }
      const extra = [];
      if (m.per_call) extra.push("$" + m.per_call + " / call");
      if (m.per_minute) extra.push("$" + m.per_minute + " / min");
      if (m.per_million_characters) extra.push("$" + m.per_million_characters + " / 1M chars");
      if (m.per_image) extra.push(Object.entries(m.per_image).map(([k, v]) => k + " $" + v).join(", "));
      if (extra.length) otherRows.push(h("tr", { "data-model": m.model }, modelCell(m), h("td", { class: "wrap" }, extra.join(" · "))));
    }
    const modes = ["relax", "fast", "turbo"];
    const mjRows = (r.midjourney || []).map((a) => {
      const markups = a.markup || {};
      if (Object.keys(markups).length) marked = true;
      return h("tr", { "data-action": a.action }, h("td", {}, a.action),
        modes.map((mo) => h("td", { class: "num" }, a.usd[mo] !== undefined ? ["$" + a.usd[mo], markupBadge(markups[mo])] : "")));
    });
    render(h("h1", {}, t("models")), h("p", { class: "muted" }, t("group", { group: r.group, ratio: r.ratio })),
      marked ? h("p", { class: "muted", id: "markup-note" }, t("markup_note")) : null,
      h("h2", {}, t("per_million")), h("div", { class: "card" }, table([t("model"), { label: t("input"), num: 1 }, { label: t("cached"), num: 1 }, { label: t("cache_write"), num: 1 }, { label: t("output"), num: 1 }], tokenRows)),
      otherRows.length ? [h("h2", {}, t("other_prices")), h("div", { class: "card" }, table([t("model"), ""], otherRows))] : null,
      mjRows.length ? [h("h2", {}, t("mj_prices")), h("div", { class: "card" }, table([t("action"), { label: "relax", num: 1 }, { label: "fast", num: 1 }, { label: "turbo", num: 1 }], mjRows))] : null);
  };

  pages.quickstart = async function () {
    const o = BASE;
    const py = 'from openai import OpenAI\n\nclient = OpenAI(base_url="' + o + '/v1", api_key="sk-…")\nreply = client.chat.completions.create(\n    model="gpt-5.4-mini",\n    messages=[{"role": "user", "content": "Hello"}],\n)\nprint(reply.choices[0].message.content)';
    const curl = "curl " + o + '/v1/chat/completions \\\n  -H "Authorization: Bearer sk-…" -H "Content-Type: application/json" \\\n  -d \'{"model": "gpt-5.4-mini", "messages": [{"role": "user", "content": "Hello"}], "stream": true}\'';
    const claude = "export ANTHROPIC_BASE_URL=" + o + "\nexport ANTHROPIC_AUTH_TOKEN=sk-…\nclaude";
    const block = (title, text) => h("div", { class: "card" }, h("h2", {}, title), h("pre", {}, text), copyButton(text));
    render(h("h1", {}, t("quickstart")), h("p", {}, t("qs_intro")), h("p", { class: "muted" }, t("qs_key")), baseUrls(),
      block("Python (openai)", py), block("curl", curl),
      h("div", { class: "card" }, h("h2", {}, "ChatBox / NextChat"), h("p", {}, t("qs_chatbox", { host: o }))),
      h("div", { class: "card" }, h("h2", {}, t("qs_mj")), h("p", {}, t("qs_mj_text", { host: o }))),
      block(t("qs_claude"), claude));
  };

  pages.playground = async function () {
    const models = await api("GET", "models");
    const chat = models.data.filter((m) => m.endpoints && m.endpoints.includes("chat.completions")).map((m) => m.model);
    const key = h("input", { name: "key", type: "password", autocomplete: "off", placeholder: "sk-…" });
    key.value = sessionStorage.getItem(PG_KEY) || "";
    const model = select("model", chat.map((m) => [m, m]));
    const prompt = h("textarea", { name: "prompt" });
    const log = h("div", { class: "chat", id: "chat-log" });
    const box = h("div");
    let controller = null;
    const send = h("button", { type: "submit", id: "send" }, t("send"));
    const form = h("form", { class: "card", onsubmit: async (ev) => {
      ev.preventDefault(); box.replaceChildren();
      if (controller) { controller.abort(); return; }
      sessionStorage.setItem(PG_KEY, key.value.trim());
      const answer = h("div", { class: "answer" }); const charge = h("div", { class: "charge" });
      log.append(h("div", { class: "q" }, prompt.value), answer, charge);
      controller = new AbortController(); send.textContent = t("stop");
      let rid = null;
      try {
        const res = await fetch("v1/chat/completions", { method: "POST", signal: controller.signal, credentials: "omit",
          headers: { "Authorization": "Bearer " + key.value.trim(), "Content-Type": "application/json" },
          body: JSON.stringify({ model: model.value, stream: true, stream_options: { include_usage: true }, messages: [{ role: "user", content: prompt.value }] }) });
        rid = res.headers.get("x-request-id");
        if (!res.ok) { let b = null; try { b = await res.json(); } catch (e) { b = null; } throw new ApiError(res.status, b); }
        const reader = res.body.getReader(); const dec = new TextDecoder(); let buf = "";
        for (;;) {
          const { done, value } = await reader.read(); if (done) break;
          buf += dec.decode(value, { stream: true });
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const ev2 = buf.slice(0, i); buf = buf.slice(i + 2);
            for (const line of ev2.split("\n")) {
              if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
              try { const j = JSON.parse(line.slice(6)); const d = j.choices && j.choices[0] && j.choices[0].delta; if (d && d.content) answer.append(d.content); } catch (e) { /* keep going */ }
            }
          }
        }
      } catch (err) { if (err.name !== "AbortError") box.append(errorBox(err)); }
      controller = null; send.textContent = t("send");
      if (rid) showCharge(rid, charge);
    } }, box, h("div", { class: "row" }, field(t("pg_key"), key), field(t("model"), model)), h("p", { class: "muted" }, t("pg_key_hint")),
      field(t("pg_prompt"), prompt), h("div", { class: "form-actions" }, send));
    render(h("h1", {}, t("playground")), form, log);
  };
  async function showCharge(rid, el) {
    el.textContent = t("pg_charge_wait");
    for (let i = 0; i < 20; i++) {
      try {
        const r = await api("GET", "usage?request_id=" + encodeURIComponent(rid));
        if (r.data.length) { const x = r.data[0]; el.textContent = t("pg_charge", { amount: usd(x.charge_usd), input: tokens(x, "input"), output: tokens(x, "output"), rid }); el.setAttribute("data-charge", x.charge_usd); return; }
      } catch (e) { return; }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  // ---- start ----------------------------------------------------------------------------------
  document.getElementById("lang").addEventListener("change", (ev) => { state.lang = ev.target.value; localStorage.setItem("tollway.lang", state.lang); show(); });
  document.getElementById("signout").addEventListener("click", async () => {
    try { await api("POST", "signout"); } catch (e) { /* signed out anyway */ }
    state.me = null; state.csrf = null; state.keys = []; sessionStorage.removeItem(PG_KEY);
    location.hash = "#/signin?out=1";
  });
  window.addEventListener("hashchange", show);
  state.lang = pickLang();
  fetch("console/api/config", { credentials: "same-origin" }).then((r) => r.json()).then((cfg) => { state.config = cfg; show(); },
    () => { state.config = { signup: "open", site_name: "tollway", signup_credit_usd: "0" }; show(); });
})();
