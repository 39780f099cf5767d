// Kanban board: drag a card onto a column to move it. The "Move to" select on each card
// is the keyboard-accessible way and the fallback; dragging just sets it and submits.
(function () {
  "use strict";

  var dragged = null;

  function columnOf(element) {
    return element instanceof Element ? element.closest("[data-board-column]") : null;
  }

  document.addEventListener("dragstart", function (event) {
    var card = event.target instanceof Element ? event.target.closest("[data-board-card]") : null;
    if (!card) {
      return;
    }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.id);
  });

  document.addEventListener("dragend", function () {
    dragged = null;
  });

  document.addEventListener("dragover", function (event) {
    if (dragged && columnOf(event.target)) {
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
    }
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    if (!dragged || !column) {
      return;
    }
    event.preventDefault();
    var stage = column.getAttribute("data-board-column");
    var select = dragged.querySelector("[data-board-move]");
    if (select && select.value !== stage) {
      column.prepend(dragged);
      select.value = stage;
      select.form.requestSubmit();
    }
    dragged = null;
  });

  // After an htmx swap the card shows its new stage: put it in that stage's column.
  document.addEventListener("htmx:afterSettle", function (event) {
    var card = event.target instanceof Element ? event.target.closest("[data-board-card]") : null;
    if (!card) {
      return;
    }
    var column = document.querySelector(
      '[data-board-column="' + card.getAttribute("data-stage") + '"]'
    );
    if (column && !column.contains(card)) {
      column.prepend(card);
    }
  });
})();
