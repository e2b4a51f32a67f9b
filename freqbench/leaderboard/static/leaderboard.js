// Sortable leaderboard tables, with no dependencies: click a header to sort by its column,
// click again to reverse. Numbers sort high to low first (the rank column low to high), text
// A to Z; empty cells stay last either way, and equal values keep their current order.
(function () {
  "use strict";

  function key(cell, numeric) {
    const raw = cell.dataset.sort;
    if (raw === undefined || raw === "") return null;
    return numeric ? Number(raw) : raw;
  }

  function nextDirection(header, numeric) {
    const current = header.getAttribute("aria-sort");
    if (current === "descending") return "ascending";
    if (current === "ascending") return "descending";
    return header.dataset.order || (numeric ? "descending" : "ascending");
  }

  function sortBy(table, index) {
    const header = table.tHead.rows[0].cells[index];
    const numeric = header.dataset.type === "number";
    const direction = nextDirection(header, numeric);
    const sign = direction === "ascending" ? 1 : -1;
    const body = table.tBodies[0];
    const rows = Array.from(body.rows, (row, position) => ({
      row: row,
      position: position,
      value: key(row.cells[index], numeric),
    }));
    rows.sort((a, b) => {
      if (a.value === null || b.value === null) {
        if (a.value === b.value) return a.position - b.position;
        return a.value === null ? 1 : -1;
      }
      if (a.value < b.value) return -sign;
      if (a.value > b.value) return sign;
      return a.position - b.position;
    });
    for (const cell of table.tHead.rows[0].cells) cell.removeAttribute("aria-sort");
    header.setAttribute("aria-sort", direction);
    for (const item of rows) body.appendChild(item.row);
  }

  for (const table of document.querySelectorAll("table.sortable")) {
    Array.from(table.tHead.rows[0].cells).forEach((header, index) => {
      header.querySelector("button").addEventListener("click", () => sortBy(table, index));
    });
  }
})();
