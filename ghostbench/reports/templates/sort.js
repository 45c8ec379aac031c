(function () {
  "use strict";
  // Click (or Enter on) a column header of a table.sortable to sort by it; numbers sort as numbers
  // (cells carry data-v), empty cells stay last. Without JavaScript the tables read the same.
  function key(td) {
    var v = td.getAttribute("data-v");
    return v === null ? td.textContent.trim() : v;
  }
  function compare(x, y) {
    if (x === "" || y === "") {
      return x === y ? 0 : (x === "" ? 1 : -1);
    }
    var nx = Number(x), ny = Number(y);
    if (!isNaN(nx) && !isNaN(ny)) {
      return nx - ny;
    }
    return x.localeCompare(y);
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) {
      return;
    }
    var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
    heads.forEach(function (th, col) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      function sort() {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = compare(x, y);
          return (x === "" || y === "" || asc) ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter") {
          sort();
        }
      });
    });
  });
})();
