// Live board: replaces the fragments the server pushes over server-sent events.
// Without JavaScript the page still shows everything, as of its loading.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var liveText = document.getElementById("live-text");
  function state(s, text) {
    if (live) { live.setAttribute("data-state", s); }
    if (liveText) { liveText.textContent = text; }
  }
  if (!window.EventSource) { state("error", "Trình duyệt không hỗ trợ cập nhật trực tiếp"); return; }
  var source = new EventSource("/board/events");
  source.addEventListener("open", function () { state("open", "Đang cập nhật trực tiếp"); });
  // a stream ends every few seconds and reconnects by itself: only a closed one is news
  source.addEventListener("error", function () {
    if (source.readyState === 2) { state("error", "Mất kết nối cập nhật trực tiếp, hãy tải lại trang"); }
  });
  source.addEventListener("fragment", function (event) {
    var msg = JSON.parse(event.data);
    var el = document.querySelector('[data-fragment="' + msg.name + '"]');
    if (!el || el.getAttribute("data-digest") === msg.digest) { return; }
    var wasOpen = el.querySelector("details[open]") !== null;  // keep "Xem thêm" open
    el.innerHTML = msg.html;
    if (wasOpen) { var more = el.querySelector("details"); if (more) { more.open = true; } }
    el.setAttribute("data-digest", msg.digest);
    // the units' group, search and order stay as the person left them
    if (window.egovUnits) { window.egovUnits.apply(); }
    el.classList.remove("flash");
    void el.offsetWidth;
    el.classList.add("flash");
    document.body.setAttribute("data-updates", String(Number(document.body.getAttribute("data-updates") || "0") + 1));
  });
})();
