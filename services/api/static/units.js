// Units of the public page and the board: group switch, search by name or code, order.
// The server renders every unit and every view (links and a GET form work without
// JavaScript); this only does the same in place. Orders come from the server
// (data-order-<sort>), so a sort here lists units exactly as the server does.
(function () {
  "use strict";
  var SORT_DEFAULT = "value";

  function fold(text) {
    return (text || "").replace(/đ/g, "d").replace(/Đ/g, "D").normalize("NFD")
      .replace(/[\u0300-\u036f]/g, "").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  }

  function setup(root) {
    // tools that only work with the script (the board's) are shown by it
    root.querySelectorAll("[data-units-tools][hidden]").forEach(function (el) { el.hidden = false; });
    var form = root.querySelector("[data-units-form]");
    var search = root.querySelector("[data-units-search]");
    var sort = root.querySelector("[data-units-sort]");
    var groupInput = root.querySelector("[data-units-group]");
    var state = {
      group: groupInput ? groupInput.value : "",
      q: search ? search.value : "",
      sort: sort ? sort.value : SORT_DEFAULT
    };

    function syncUrl() {
      if (!window.history || !window.history.replaceState || !window.URL) { return; }
      var url = new URL(window.location.href);
      [["group", state.group, ""], ["q", state.q.trim(), ""], ["sort", state.sort, SORT_DEFAULT]]
        .forEach(function (p) {
          if (p[1] && p[1] !== p[2]) { url.searchParams.set(p[0], p[1]); } else { url.searchParams.delete(p[0]); }
        });
      window.history.replaceState(null, "", url.toString());
      // the month/indicator picker keeps the view
      document.querySelectorAll("form.picker").forEach(function (picker) {
        picker.querySelectorAll("[data-view-param]").forEach(function (el) { el.remove(); });
        [["group", state.group, ""], ["q", state.q.trim(), ""], ["sort", state.sort, SORT_DEFAULT]]
          .forEach(function (p) {
            if (!p[1] || p[1] === p[2]) { return; }
            var input = document.createElement("input");
            input.type = "hidden"; input.name = p[0]; input.value = p[1];
            input.setAttribute("data-view-param", "");
            picker.appendChild(input);
          });
      });
    }

    function apply() {
      var q = fold(state.q);
      var shown = 0, total = 0;
      root.querySelectorAll("[data-group-section]").forEach(function (section) {
        var group = section.getAttribute("data-group-section");
        var visible = !state.group || state.group === group;
        section.hidden = !visible;
        var matched = 0;
        section.querySelectorAll("tbody[data-units-body]").forEach(function (body) {
          var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-unit]"));
          rows.sort(function (a, b) {
            return Number(a.getAttribute("data-order-" + state.sort)) - Number(b.getAttribute("data-order-" + state.sort));
          });
          rows.forEach(function (row) {
            var match = !q || (row.getAttribute("data-search") || "").indexOf(q) !== -1;
            row.hidden = !match;
            total += 1;
            if (match) { matched += 1; }
            body.appendChild(row);
          });
        });
        var empty = section.querySelector("[data-units-empty]");
        if (empty) { empty.hidden = matched > 0; }
        if (visible) { shown += matched; }
      });
      root.querySelectorAll("[data-group-switch] a[data-group]").forEach(function (link) {
        if (link.getAttribute("data-group") === state.group) { link.setAttribute("aria-current", "true"); }
        else { link.removeAttribute("aria-current"); }
      });
      if (groupInput) { groupInput.value = state.group; }
      var count = root.querySelector("[data-units-count]");
      if (count) {
        count.textContent = "Đang hiện " + shown + " / " + total + " đơn vị" +
          (state.q.trim() ? " khớp “" + state.q.trim() + "”" : "") + ".";
      }
      root.setAttribute("data-units-ready", state.group + "|" + state.sort + "|" + q);
    }

    root.querySelectorAll("[data-group-switch] a[data-group]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        state.group = link.getAttribute("data-group") || "";
        apply(); syncUrl();
      });
    });
    if (search) {
      var timer = null;
      search.addEventListener("input", function () {
        window.clearTimeout(timer);
        timer = window.setTimeout(function () { state.q = search.value; apply(); syncUrl(); }, 80);
      });
    }
    if (sort) {
      sort.addEventListener("change", function () { state.sort = sort.value; apply(); syncUrl(); });
    }
    if (form) {
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        state.q = search ? search.value : ""; state.sort = sort ? sort.value : SORT_DEFAULT;
        apply(); syncUrl();
      });
    }
    var reset = root.querySelector("[data-units-reset]");
    if (reset) {
      reset.addEventListener("click", function (event) {
        event.preventDefault();
        state = { group: "", q: "", sort: SORT_DEFAULT };
        if (search) { search.value = ""; }
        if (sort) { sort.value = SORT_DEFAULT; }
        apply(); syncUrl();
      });
    }
    apply();
    return apply;
  }

  var appliers = [];
  function start() {
    document.querySelectorAll("[data-units]").forEach(function (root) { appliers.push(setup(root)); });
  }
  // the board calls this after a live fragment replaced its tables
  window.egovUnits = { apply: function () { appliers.forEach(function (fn) { fn(); }); } };
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
