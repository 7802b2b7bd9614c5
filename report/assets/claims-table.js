/* Sort and filter the report's tables without any library or network.
 *
 * A <table class="sortable"> gets its header buttons sorting the rows (click again to reverse);
 * a cell's data-sort attribute, when present, is the number it sorts by (empty: sorted last).
 * An <input data-filters="TABLE-ID"> hides the rows of that table that do not contain its text;
 * an element with data-counts="TABLE-ID" shows how many rows are visible.
 */
(function () {
  "use strict";

  function cellKey(row, index) {
    var cell = row.cells[index];
    if (!cell) return { missing: true };
    if (cell.hasAttribute("data-sort")) {
      var text = cell.getAttribute("data-sort");
      return text === "" ? { missing: true } : { number: parseFloat(text) };
    }
    var value = cell.textContent.trim();
    return value === "–" || value === "" ? { missing: true } : { text: value.toLowerCase() };
  }

  function compare(a, b) {
    if (a.missing || b.missing) return a.missing === b.missing ? 0 : (a.missing ? 1 : -1);
    if (a.number !== undefined && b.number !== undefined) return a.number - b.number;
    return String(a.text).localeCompare(String(b.text));
  }

  function makeSortable(table) {
    var headers = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(headers, function (th, index) {
      var button = th.querySelector("button") || th;
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var keyA = cellKey(a, index), keyB = cellKey(b, index);
          if (keyA.missing || keyB.missing) return compare(keyA, keyB); // missing values stay last
          return ascending ? compare(keyA, keyB) : compare(keyB, keyA);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  }

  function showCount(tableId) {
    var table = document.getElementById(tableId);
    var counter = document.querySelector('[data-counts="' + tableId + '"]');
    if (!table || !counter) return;
    var rows = table.tBodies[0].rows, visible = 0;
    for (var i = 0; i < rows.length; i++) if (!rows[i].hidden) visible++;
    counter.textContent = visible + " of " + rows.length + " rows";
  }

  function makeFilter(input) {
    var tableId = input.getAttribute("data-filters");
    var table = document.getElementById(tableId);
    if (!table) return;
    input.addEventListener("input", function () {
      var query = input.value.trim().toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) === -1;
      });
      showCount(tableId);
    });
    showCount(tableId);
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("input[data-filters]"), makeFilter);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
