// The wallboard: one EventSource on /api/stream, each "snapshot" event redraws the page.
// No framework, no build step; text goes in with textContent only (nothing is parsed as HTML).
// EventSource reconnects by itself; while it is down the stale banner says since when.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const STALE_AFTER_MS = 5000; // the dialer sends something every second or two while it runs
  const REOPEN_MS = 2000; // after a refused stream (401, 503) EventSource gives up: open a new one
  let lastMessage = 0;
  let lastData = null;
  let source = null;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    return node;
  }

  function pct(rate) {
    return rate === null || rate === undefined ? "–" : (rate * 100).toFixed(1) + "%";
  }

  function clock(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }

  function field(name, value, text) {
    // data-field names the figure, data-value holds it unformatted (what the browser test compares).
    const node = el("span", { "data-field": name, "data-value": JSON.stringify(value) }, text);
    return node;
  }

  function sparkline(points, bucketSeconds) {
    const width = 200, height = 48, top = Math.max(1, ...points);
    const chart = svg("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none",
                               role: "img", "data-points": points.length });
    const title = svg("title");
    title.textContent = `originations per ${bucketSeconds} s, last ${points.length * bucketSeconds / 60} min (max ${top})`;
    chart.appendChild(title);
    const step = width / Math.max(1, points.length - 1);
    const xy = points.map((v, i) => [i * step, height - 2 - (v / top) * (height - 4)]);
    const line = xy.map(([x, y], i) => (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1)).join(" ");
    chart.appendChild(svg("path", { class: "area", d: `${line} L ${width} ${height} L 0 ${height} Z` }));
    chart.appendChild(svg("path", { class: "line mark", d: line }));
    return chart;
  }

  function abandonChart(rates, limit) {
    // Two bars (24 h, 30 days) on a scale of twice the limit, with the limit as a dashed line.
    const width = 200, height = 48, scale = Math.max(limit * 2, rates["24h"] || 0, rates["30d"] || 0, 0.0001);
    const chart = svg("svg", { class: "abandon", viewBox: `0 0 ${width} ${height}`, role: "img" });
    const title = svg("title");
    title.textContent = `abandon rate 24 h ${pct(rates["24h"])}, 30 days ${pct(rates["30d"])}, limit ${pct(limit)}`;
    chart.appendChild(title);
    [["24h", 4], ["30d", 26]].forEach(([key, y]) => {
      const value = rates[key] || 0;
      chart.appendChild(svg("rect", { class: "track", x: 34, y, width: width - 36, height: 16 }));
      const bar = svg("rect", { class: "bar mark" + (value > limit ? " over" : ""), x: 34, y,
                                width: Math.max(1, (value / scale) * (width - 36)), height: 16 });
      chart.appendChild(bar);
      const label = svg("text", { x: 0, y: y + 12 });
      label.textContent = key;
      chart.appendChild(label);
    });
    const x = 34 + (limit / scale) * (width - 36);
    chart.appendChild(svg("line", { class: "limit", x1: x, x2: x, y1: 0, y2: height }));
    return chart;
  }

  function ratesTable(c, limit) {
    const table = el("table", { class: "rates" });
    const head = el("tr");
    ["", "today", "24 h", "30 days"].forEach((t) => head.appendChild(el("th", {}, t)));
    table.appendChild(head);
    [["answer", c.answer_rate, false], ["abandon", c.abandon_rate, true]].forEach(([name, rates, capped]) => {
      const row = el("tr");
      row.appendChild(el("th", {}, name));
      ["today", "24h", "30d"].forEach((key) => {
        const cell = el("td", capped && rates[key] !== null && rates[key] > limit ? { class: "over" } : {});
        cell.appendChild(field(`${name}_rate.${key}`, rates[key], pct(rates[key])));
        row.appendChild(cell);
      });
      table.appendChild(row);
    });
    return table;
  }

  function campaignCard(name, c, data) {
    const card = el("article", { class: "campaign", "data-campaign": name });
    const head = el("header");
    head.appendChild(el("h3", {}, name));
    const state = field("state", c.state, c.state);
    state.className = "badge state-" + c.state;
    head.appendChild(state);
    const w = c.window;
    const windowText = w.open === null ? "no lead pending" : w.open
      ? `window open (${w.open_groups} of ${w.groups} zone groups)`
      : `window closed; opens ${w.next_open ? clock(w.next_open) : "not within the search"}`;
    const win = field("window", w.open, windowText);
    win.className = w.open === false ? "window-closed" : "window-open";
    head.appendChild(win);
    card.appendChild(head);

    const big = el("div", { class: "big" });
    [["live", c.live, "live"], ["ringing", c.ringing, "ringing"], ["answered", c.answered, "answered"],
     ["originations_per_s", c.originations_per_s, "originations/s"]].forEach(([key, value, label]) => {
      const cell = el("div");
      const v = field(key, value, key === "originations_per_s" ? value.toFixed(2) : value);
      v.classList.add("value");
      cell.appendChild(v);
      cell.appendChild(el("span", { class: "label" }, label));
      big.appendChild(cell);
    });
    card.appendChild(big);
    card.appendChild(ratesTable(c, data.abandon_limit));

    const charts = el("div", { class: "charts" });
    const spark = el("figure", { class: "chart" });
    spark.appendChild(sparkline(c.spark, data.spark_bucket_s));
    spark.appendChild(el("figcaption", { class: "caption" }, "originations, last 10 min"));
    charts.appendChild(spark);
    const ab = el("figure", { class: "chart" });
    ab.appendChild(abandonChart(c.abandon_rate, data.abandon_limit));
    ab.appendChild(el("figcaption", { class: "caption" }, `abandon vs the ${pct(data.abandon_limit)} limit`));
    charts.appendChild(ab);
    card.appendChild(charts);

    const leads = el("p");
    leads.appendChild(document.createTextNode("leads left: "));
    leads.appendChild(field("leads_left", c.leads_left, c.leads_left));
    leads.appendChild(document.createTextNode(" · runs out "));
    leads.appendChild(field("runs_out_at", c.runs_out_at,
      c.runs_out_at ? `in ${duration(c.runs_out_in_s)} (${clock(c.runs_out_at)})` : "– (not dialing)"));
    leads.appendChild(document.createTextNode(" · calls today: "));
    leads.appendChild(field("calls_today", c.calls_today, c.calls_today));
    card.appendChild(leads);

    const blocks = Object.entries(c.gate_blocks_1h);
    const blockList = el("ul", { class: "blocks", "data-field": "gate_blocks_1h",
                                 "data-value": JSON.stringify(c.gate_blocks_1h) });
    if (!blocks.length) blockList.appendChild(el("li", { class: "muted" }, "no gate blocks in the last hour"));
    blocks.forEach(([rule, n]) => blockList.appendChild(el("li", {}, `${rule}: ${n}`)));
    card.appendChild(el("div", { class: "caption" }, "gate blocks, last hour"));
    card.appendChild(blockList);

    if (c.calls.length) {
      const calls = el("ul", { class: "calls" });
      c.calls.slice(0, 12).forEach((call) => calls.appendChild(
        el("li", { "data-field": "call" }, `${call.number} ${call.state} ${duration(call.for_s)}`)));
      if (c.calls.length > 12) calls.appendChild(el("li", { class: "muted" }, `and ${c.calls.length - 12} more`));
      card.appendChild(calls);
    }
    return card;
  }

  function render(data) {
    lastData = data;
    document.getElementById("node").textContent = data.node;
    const pbx = document.getElementById("pbx");
    pbx.textContent = data.pbx.connected ? `up (${data.pbx.address}) since ${clock(data.pbx.since)}`
      : `DOWN (${data.pbx.address})`;
    pbx.setAttribute("data-value", JSON.stringify(data.pbx.connected));
    document.getElementById("pbx-reconnect").textContent = clock(data.pbx.last_reconnect);
    const outbox = document.getElementById("outbox");
    outbox.textContent = data.outbox_backlog;
    outbox.setAttribute("data-value", JSON.stringify(data.outbox_backlog));
    document.getElementById("generated").textContent = clock(data.generated_at) + (data.draining ? " (draining)" : "");
    document.getElementById("since-today").textContent = clock(data.since.today);
    document.getElementById("limit").textContent = pct(data.abandon_limit);
    const box = document.getElementById("campaigns");
    box.replaceChildren(...Object.entries(data.campaigns).map(([name, c]) => campaignCard(name, c, data)));
    const alerts = document.getElementById("alerts");
    alerts.replaceChildren(...data.alerts.map((a) => {
      const item = el("li", { "data-kind": a.kind });
      item.appendChild(el("span", { class: "alert-kind" }, a.kind));
      item.appendChild(document.createTextNode(`${clock(new Date(a.at * 1000).toISOString())} ${a.message}`));
      return item;
    }));
    document.getElementById("alerts-empty").hidden = data.alerts.length > 0;
    document.body.setAttribute("data-generated", data.generated_at);
    document.body.setAttribute("data-since", JSON.stringify(data.since));
  }

  function setStale(stale, why) {
    const banner = document.getElementById("stale");
    if (stale) {
      document.getElementById("stale-text").textContent = why;
      document.getElementById("stale-since").textContent = lastData ? clock(lastData.generated_at) : "before";
    }
    banner.hidden = !stale;
    document.body.classList.toggle("is-stale", stale);
    document.body.setAttribute("data-stale", stale ? "1" : "0");
  }

  function connect() {
    source = new EventSource("/api/stream");
    source.addEventListener("snapshot", (event) => {
      lastMessage = Date.now();
      setStale(false);
      render(JSON.parse(event.data));
    });
    source.addEventListener("ping", () => {
      lastMessage = Date.now();
    });
    source.onerror = () => {
      setStale(true, "the connection to the dialer is lost");
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(connect, REOPEN_MS);
      }
    };
  }

  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > STALE_AFTER_MS) {
      setStale(true, "no news from the dialer for " + Math.round((Date.now() - lastMessage) / 1000) + " s");
    }
  }, 1000);
  setStale(true, "connecting to the dialer");
  connect();
})();
