// The enrolment panel of the staff screen (device/web/enrol.py): while the terminal can be
// enrolled from a voucher it shows its enrolment QR for the technician's phone; a revoked,
// expired or not enrolled terminal says so in red. Polls /api/enrolment (loopback, cheap).
(function () {
  "use strict";
  var TEXT = {
    unenrolled: ["未注册 NOT ENROLLED", "技术员：请扫描二维码 · Technician: scan to enrol"],
    enrolling: ["注册中… ENROLLING…", ""],
    revoked: ["终端证书已吊销 REVOKED", "闸机继续离线判定 · gating continues offline; call the technician"],
    expired: ["终端证书已过期 CERTIFICATE EXPIRED", "请重新注册 · re-enrol the terminal"],
    error: ["身份错误 IDENTITY ERROR", ""]
  };
  var panel = document.createElement("section");
  panel.id = "enrol";
  // Placed in the screen's side column (index.html): never over a verdict, the warnings
  // or the status bar.
  panel.setAttribute("style", "max-width:42vw;box-sizing:border-box;" +
    "background:#3e2723;color:#ffccbc;border-radius:.3em;padding:.5em .7em;font-size:3vmin;" +
    "display:none");
  panel.innerHTML = '<div id="enrol-title" style="font-weight:800;color:#ff8a80"></div>' +
    '<div id="enrol-sub"></div><img id="enrol-qr" alt="enrolment QR" ' +
    'style="display:none;width:28vmin;height:28vmin;margin-top:.4em;background:#fff">' +
    '<div id="enrol-fp" style="font-family:monospace;font-size:2.6vmin"></div>' +
    '<div id="enrol-msg" style="margin-top:.3em"></div>';
  (document.getElementById("side") || document.body).appendChild(panel);
  var lastUri = null;
  function show(st) {
    var t = TEXT[st.state];
    if (!t) { panel.style.display = "none"; lastUri = null; return; }
    panel.style.display = "block";
    document.getElementById("enrol-title").textContent = t[0];
    document.getElementById("enrol-sub").textContent = t[1];
    var img = document.getElementById("enrol-qr");
    if (st.uri) {
      if (st.uri !== lastUri) { img.src = "/enrol/qr.svg?n=" + encodeURIComponent(st.uri.slice(-24)); }
      img.style.display = "block";
    } else { img.style.display = "none"; }
    lastUri = st.uri || null;
    document.getElementById("enrol-fp").textContent =
      (st.terminal_id || "") + (st.key_fingerprint_short ? "  key " + st.key_fingerprint_short : "");
    document.getElementById("enrol-msg").textContent = st.message || "";
  }
  function poll() {
    fetch("/api/enrolment", {cache: "no-store"}).then(function (r) { return r.json(); })
      .then(show).catch(function () {}).then(function () { setTimeout(poll, 1500); });
  }
  poll();
})();
