"""The report's only script: click a column header of a `table.sortable` to sort by it (again: reverse).

Numbers sort as numbers (each cell's `data-v`), missing values last either way. `report.html#sort=KEY` or
`#sort=KEY:desc` sorts the evaluations table on load. The table records its order in `data-sorted`.
"""

SORT_JS = r"""
(function () {
  function missing(v) { return v === null || v === ''; }
  function sortTable(table, col, desc) {
    var ths = table.tHead.rows[0].cells, num = ths[col].getAttribute('data-type') === 'num';
    var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
      if (missing(x)) { return missing(y) ? 0 : 1; }
      if (missing(y)) { return -1; }
      var c = num ? parseFloat(x) - parseFloat(y) : (x < y ? -1 : (x > y ? 1 : 0));
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < ths.length; i++) { ths[i].removeAttribute('data-dir'); }
    ths[col].setAttribute('data-dir', desc ? 'desc' : 'asc');
    table.setAttribute('data-sorted', ths[col].getAttribute('data-key') + (desc ? ':desc' : ':asc'));
  }
  var tables = document.querySelectorAll('table.sortable');
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () {
        sortTable(table, i, th.getAttribute('data-dir') === 'asc');
      });
    });
  });
  var m = /^#sort=([A-Za-z0-9_]+)(:desc)?$/.exec(window.location.hash);
  var t = document.getElementById('evaluations-table');
  if (m && t) {
    var ths = t.tHead.rows[0].cells;
    for (var i = 0; i < ths.length; i++) {
      if (ths[i].getAttribute('data-key') === m[1]) { sortTable(t, i, !!m[2]); }
    }
  }
  document.body.setAttribute('data-js', 'ready');
})();
"""
