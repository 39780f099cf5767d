// Heroshhi Pro: the few behaviours the server-rendered pages need.
// The CSP forbids inline handlers, so everything hangs off data attributes through
// listeners on the document; content swapped in by htmx works without re-binding.
(function () {
  "use strict";

  function setMenu(toggle, open) {
    var nav = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!nav) {
      return;
    }
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    nav.classList.toggle("is-open", open);
  }

  function openMenuToggle() {
    return document.querySelector('[data-menu-toggle][aria-expanded="true"]');
  }

  function closeDropdowns(except) {
    document.querySelectorAll("details[data-dropdown][open]").forEach(function (dropdown) {
      if (dropdown !== except) {
        dropdown.open = false;
      }
    });
  }

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) {
      return;
    }
    closeDropdowns(target.closest("details[data-dropdown]"));

    var toggle = target.closest("[data-menu-toggle]");
    if (toggle) {
      setMenu(toggle, toggle.getAttribute("aria-expanded") !== "true");
      return;
    }
    var openToggle = openMenuToggle();
    if (openToggle && !target.closest(".sidenav")) {
      setMenu(openToggle, false);
    }

    var opener = target.closest("[data-modal-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-modal-open"));
      if (dialog instanceof HTMLDialogElement) {
        dialog.showModal();
      }
      return;
    }
    // The panel fills the dialog, so a click whose target is the dialog itself landed on
    // the backdrop.
    if (target instanceof HTMLDialogElement) {
      target.close();
      return;
    }
    var closer = target.closest("[data-modal-close]");
    if (closer) {
      var parent = closer.closest("dialog");
      if (parent) {
        parent.close();
      }
      return;
    }

    var dismiss = target.closest("[data-toast-dismiss]");
    if (dismiss) {
      var toast = dismiss.closest(".toast");
      if (toast) {
        toast.remove();
      }
    }
  });

  // Escape closes the menu and dropdowns; open dialogs close on Escape by themselves.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var openToggle = openMenuToggle();
    if (openToggle) {
      setMenu(openToggle, false);
      openToggle.focus();
    }
    var dropdown = document.querySelector("details[data-dropdown][open]");
    if (dropdown) {
      dropdown.open = false;
      dropdown.querySelector("summary").focus();
    }
  });
})();
