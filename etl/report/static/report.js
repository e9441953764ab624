// kreview report: sorting and filtering in the page. Plain JavaScript, no library, no
// network: the report works opened from disk (file://) or from any static web server.
// The index may list ~15,000 titles. Every row is in the page (rendered once by the server,
// never rebuilt here), but only the first `data-shown` rows matching the filter, in the
// current order, are displayed: laying out 15,000 rows with a sparkline each takes a browser
// seconds, 500 a blink. Sorting moves rows (keys read once per sort); filtering toggles
// `hidden` only where it changes.
(function () {
  "use strict";

  // Sort any table.sortable by a click on its heading; cells carry their exact value in
  // data-value, numbers sort numerically (empty = NULL last), text in Korean collation.
  function sortBy(table, col, th) {
    var kind = th.getAttribute("data-kind");
    if (kind === "none") return;
    var asc = th.getAttribute("aria-sort") !== "ascending";
    var body = table.tBodies[0];
    var collator = new Intl.Collator("ko", { numeric: true });
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      var cell = row.cells[col];
      var raw = cell ? cell.getAttribute("data-value") || "" : "";
      return { row: row, i: i, raw: raw, num: kind === "num" ? parseFloat(raw) : 0 };
    });
    keyed.sort(function (a, b) {
      if (a.raw === "" || b.raw === "") {
        return (a.raw === "") - (b.raw === "") || a.i - b.i;  // NULL last either way
      }
      var d = kind === "num" ? a.num - b.num : collator.compare(a.raw, b.raw);
      return (asc ? d : -d) || a.i - b.i;  // stable
    });
    var frag = document.createDocumentFragment();
    keyed.forEach(function (k) { frag.appendChild(k.row); });
    body.appendChild(frag);
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", asc ? "ascending" : "descending");
    table.dispatchEvent(new Event("sorted"));  // the index shows the first rows of the new order
  }

  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () { sortBy(table, col, th); });
    });
  });

  // The index's filter: rows whose title or id contains the typed text (case-insensitive).
  var input = document.getElementById("filter");
  var table = document.getElementById("titles");
  if (input && table) {
    var count = document.getElementById("count");
    var showAll = document.getElementById("show-all");
    var body = table.tBodies[0];
    var limit = parseInt(table.getAttribute("data-shown"), 10) || Infinity;
    var apply = function () {
      var q = input.value.trim().toLocaleLowerCase();
      var rows = body.rows;
      var hits = 0, shown = 0;
      for (var i = 0; i < rows.length; i++) {
        var row = rows[i];
        var hit = row.getAttribute("data-filter").indexOf(q) !== -1;
        if (hit) hits += 1;
        var show = hit && shown < limit;
        if (show) shown += 1;
        if (row.hidden === show) row.hidden = !show;  // touch the DOM only where it changes
      }
      count.textContent = hits + " of " + rows.length + " titles" +
        (shown < hits ? "; the first " + shown + " shown" : "");
      showAll.hidden = shown >= hits;
    };
    showAll.addEventListener("click", function () { limit = Infinity; apply(); });
    input.addEventListener("input", apply);
    table.addEventListener("sorted", apply);
    apply();
  }
})();
