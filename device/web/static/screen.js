// scangate staff screen: verdicts and status are PUSHED over Server-Sent Events.
// Layout (index.html, screen.css): warnings, then the verdict or the ready prompt, then
// the status bar, in rows that never overlap.
"use strict";
(function () {
  var displayS = 4, hideTimer = null;
  var $ = function (id) { return document.getElementById(id); };
  window.__scangate = { shown: [], status: null };

  function age(s) {
    if (s === null || s === undefined) return "–";
    if (s < 90) return Math.round(s) + "s";
    if (s < 5400) return Math.round(s / 60) + "min";
    if (s < 172800) return Math.round(s / 3600) + "h";
    return Math.round(s / 86400) + "d";
  }
  function hhmm(t) {
    var d = new Date(t * 1000);
    return ("0" + d.getHours()).slice(-2) + ":" + ("0" + d.getMinutes()).slice(-2) + ":" +
      ("0" + d.getSeconds()).slice(-2);
  }
  function set(id, text, cls) { var el = $(id); el.textContent = text; el.className = cls || ""; }

  function showVerdict(v) {
    var el = $("verdict"), ok = v.decision === "accept";
    el.className = "verdict " + (ok ? "accept" : "deny");
    $("v-mark").textContent = ok ? "✓" : "✗";
    // The decision first (Chinese, then English), then why: a denial's reason. An
    // accepted code's reason is "valid", which the headline already says.
    $("v-head-zh").textContent = ok ? "通过" : "拒绝";
    $("v-head-en").textContent = ok ? "PASS" : "DENIED";
    $("v-zh").textContent = ok ? "" : (v.message_zh || "");
    $("v-en").textContent = ok ? "" : (v.message_en || "");
    var meta = [];
    if (v.profile) meta.push(v.profile === "eu-dcc" ? "EU DCC" : "健康码 scangate");
    if (v.cert_type) meta.push({ v: "疫苗 vaccination", t: "检测 test", r: "康复 recovery" }[v.cert_type] || v.cert_type);
    if (v.status) meta.push({ green: "绿码 green", yellow: "黄码 yellow", red: "红码 red" }[v.status] || v.status);
    if (v.exp) meta.push((v.exp * 1000 > Date.now() ? "有效至 valid until " : "过期于 expired ") + hhmm(v.exp));
    $("v-meta").textContent = meta.join(" · ");
    // Time from the decision (daemon side) to this DOM update, for the browser test.
    var shownAt = performance.timeOrigin + performance.now();
    window.__scangate.shown.push({ seq: v.seq, t_decision_ms: v.t_decision_ms, shown_ms: shownAt,
      decision: v.decision, reason: v.reason });
    $("ready").hidden = true;
    if (hideTimer) clearTimeout(hideTimer);
    hideTimer = setTimeout(function () {
      el.className = "verdict hidden";
      $("ready").hidden = false;
    }, displayS * 1000);
  }

  function showStatus(s) {
    window.__scangate.status = s;
    var up = s.uplink || {};
    if (!up.configured) set("s-online", "未配置 off");
    else set("s-online", up.online ? "在线 online" : "离线 offline", up.online ? "good" : "bad");
    var j = s.journal || {};
    set("s-backlog", (j.pending === undefined ? "–" : j.pending) +
      (j.oldest_pending_age_s ? " (" + age(j.oldest_pending_age_s) + ")" : ""),
      j.oldest_pending_age_s > 3600 ? "warn" : "");
    var t = s.trust || {};
    if (t.version === null || t.version === undefined) set("s-trust", "无 none", "bad");
    else set("s-trust", "v" + t.version + " · " + age(t.age_s) + (t.stale ? " 已过期 STALE" : ""),
      t.stale ? "bad" : "");
    var c = s.clock || {};
    set("s-clock", { synced: "已同步 synced", floor: "落后 behind (floor)", unsure: "未知 unsure" }[c.quality] ||
      (c.quality || "–"), c.quality === "synced" ? "good" : "warn");
    var parts = [];
    (s.sources || []).forEach(function (src) {
      var txt = src.kind === "camera" ? "cam " + (src.fps === null || src.fps === undefined ? "–" : Number(src.fps).toFixed(0) + "fps")
        : "reader " + (src.connected ? "ok" : "off");
      parts.push(txt + (src.connected ? "" : "!"));
    });
    var allUp = (s.sources || []).every(function (x) { return x.connected; });
    set("s-sources", parts.join(", ") || "–", allUp ? "" : "bad");
    var warns = [];
    if (t.version === null || t.version === undefined) warns.push("无信任列表 · NO TRUST LIST");
    else if (t.stale) warns.push("信任列表已过期 · TRUST LIST STALE");
    if (j.error) warns.push("记录写入失败 · JOURNAL ERROR");
    if (!allUp) warns.push("扫码设备断开 · SCANNER DISCONNECTED");
    var w = $("warn");
    w.textContent = warns.join("  ·  ");
    w.className = warns.length ? "warnbox" : "warnbox hidden";
    var d = s.today || {};
    set("s-today", "✓" + (d.accept || 0) + " ✗" + (d.deny || 0));
  }

  function connect() {
    var es = new EventSource("/events");
    es.addEventListener("hello", function (e) {
      var h = JSON.parse(e.data);
      displayS = h.display_s || displayS;
      set("conn", "", "item conn");
      if (h.status) showStatus(h.status);
      var last = h.last_verdict;  // a page (re)loaded while a verdict is still on show
      if (last && Date.now() - last.t_decision_ms < displayS * 1000) showVerdict(last);
    });
    es.addEventListener("verdict", function (e) { showVerdict(JSON.parse(e.data)); });
    es.addEventListener("status", function (e) { showStatus(JSON.parse(e.data)); });
    es.onerror = function () { set("conn", "与终端断开 disconnected", "item conn bad"); };
  }
  connect();
})();
