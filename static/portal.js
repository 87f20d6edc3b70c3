/* Progressive enhancement. Every page works without this file: dialogs stay open in the page, menus
   are <details>, grouping is a select and links, the phone menu is a :target link. */
(function () {
  "use strict";
  // Only with htmx do the grid's controls apply themselves: then CSS hides the "Aplicar" buttons.
  if (window.htmx) document.documentElement.classList.add("js");

  /* -- the one modal (<dialog data-modal>) ------------------------------------------------- */
  function show(root) {
    (root || document).querySelectorAll("dialog[data-modal]").forEach(function (dialog) {
      if (dialog.matches(":modal")) return;
      // Not close(): its "close" event would arrive after the listener below and remove the dialog.
      if (dialog.open) dialog.removeAttribute("open");
      dialog.addEventListener("close", function () {
        var back = dialog.getAttribute("data-return-focus");
        dialog.remove();
        var target = back && document.getElementById(back);
        if (target) target.focus();
      }, { once: true });
      dialog.showModal();
    });
  }

  /* -- menus: <details class="menu|grid-menu">, one open at a time ---------------------------- */
  var MENUS = "details.menu, details.grid-menu";

  function sync(menu) {
    var summary = menu.querySelector("summary");
    if (summary) summary.setAttribute("aria-expanded", menu.open ? "true" : "false");
  }

  function openMenus() {
    return Array.prototype.slice.call(document.querySelectorAll("details[open]")).filter(function (menu) {
      return menu.matches(MENUS);
    });
  }

  // "toggle" does not bubble: listen while it goes down.
  document.addEventListener("toggle", function (event) {
    var menu = event.target;
    if (!menu.matches || !menu.matches(MENUS)) return;
    sync(menu);
    if (menu.open) openMenus().forEach(function (other) { if (other !== menu) other.open = false; });
  }, true);

  document.addEventListener("click", function (event) {
    openMenus().forEach(function (menu) { if (!menu.contains(event.target)) menu.open = false; });
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || document.querySelector("dialog:modal")) return;
    openMenus().forEach(function (menu) {
      menu.open = false;
      menu.querySelector("summary").focus();
    });
    if (document.querySelector(".sidebar.is-open")) foldMenu(false, true);
  });

  /* -- the phone's "Menú": a toggle instead of a jump to #menu -------------------------------- */
  function foldMenu(open, giveFocus) {
    var toggle = document.querySelector(".menu-toggle");
    var nav = document.getElementById("menu");
    if (!toggle || !nav) return;
    nav.classList.toggle("is-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    if (open) nav.querySelector("a").focus();
    else if (giveFocus) toggle.focus();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest(".menu-toggle, .menu-close a");
    if (!link) return;
    event.preventDefault();
    foldMenu(link.classList.contains("menu-toggle") && !document.getElementById("menu").classList.contains("is-open"), true);
  });

  /* -- grouping: drag a header onto the group panel, or the chip off it -------------------------
     Pointer events, so a mouse, a pen and a finger all drag (HTML5 drag events never fire on touch).
     Every path ends as a change of the grid's "Agrupar por" select: the same request, URL and rows. */
  function groupBy(gridId, key) {
    var select = document.getElementById(gridId + "-group");
    if (!select || !window.htmx) return false;
    select.value = key;
    select.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  var drag = null;
  var pendingFocus = null;
  var swallowClick = false;

  function inside(element, event) {
    var box = element.getBoundingClientRect();
    return event.clientX >= box.left && event.clientX <= box.right &&
           event.clientY >= box.top && event.clientY <= box.bottom;
  }

  function endDrag() {
    if (!drag) return;
    if (drag.ghost) drag.ghost.remove();
    drag.panel.classList.remove("grid-drop-target");
    drag = null;
  }

  document.addEventListener("pointerdown", function (event) {
    if (event.button !== 0 || !window.htmx) return;
    var source = event.target.closest("th[data-group], [data-group-chip]");
    if (!source) return;
    var gridId = source.hasAttribute("data-group") ? source.closest(".grid").id
                                                   : source.closest("[data-grid]").getAttribute("data-grid");
    var panel = document.getElementById(gridId + "-grouping");
    if (!panel) return;
    drag = { source: source, gridId: gridId, panel: panel, pointer: event.pointerId,
             x: event.clientX, y: event.clientY, ghost: null };
  });

  document.addEventListener("pointermove", function (event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    if (!drag.ghost) {
      if (Math.abs(event.clientX - drag.x) + Math.abs(event.clientY - drag.y) < 8) return;
      drag.ghost = document.createElement("div");
      drag.ghost.className = "grid-drag-ghost";
      drag.ghost.setAttribute("aria-hidden", "true");
      var label = drag.source.querySelector("strong") || drag.source.querySelector("a") || drag.source;
      drag.ghost.textContent = label.textContent.replace(/[▲▼]/g, "").trim();
      document.body.appendChild(drag.ghost);
    }
    event.preventDefault();
    // CSSOM, not a style attribute: allowed by the CSP's style-src 'self'.
    drag.ghost.style.transform = "translate(" + (event.clientX + 8) + "px," + (event.clientY + 8) + "px)";
    drag.panel.classList.toggle("grid-drop-target", inside(drag.panel, event));
  });

  document.addEventListener("pointerup", function (event) {
    if (!drag || event.pointerId !== drag.pointer) return;
    var moved = drag.ghost !== null;
    var over = inside(drag.panel, event);
    var source = drag.source, gridId = drag.gridId;
    endDrag();
    if (!moved) return;
    // The click that ends a drag is not a click on the header's sort link; a drag ending elsewhere
    // sends no click, so the swallowing ends with this task.
    swallowClick = true;
    setTimeout(function () { swallowClick = false; }, 0);
    if (source.hasAttribute("data-group") && over) groupBy(gridId, source.getAttribute("data-group"));
    else if (source.hasAttribute("data-group-chip") && !over) groupBy(gridId, "");
  });

  document.addEventListener("click", function (event) {
    if (!swallowClick) return;
    swallowClick = false;
    event.preventDefault();
    event.stopImmediatePropagation();
  }, true);

  document.addEventListener("pointercancel", endDrag);
  // A link's own (HTML5) drag would cancel the pointer's: headers and the chip hold links.
  document.addEventListener("dragstart", function (event) {
    if (event.target.closest && event.target.closest("th[data-group], [data-group-chip]")) event.preventDefault();
  });

  // "Agrupar por esta columna" and ✕ are links (no JS: the grouped URL); with htmx, the select.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-group-key]");
    if (!link) return;
    var holder = link.closest(".grid") || link.closest("[data-grid]");
    var gridId = holder.id && holder.classList.contains("grid") ? holder.id : holder.getAttribute("data-grid");
    var key = link.getAttribute("data-group-key");
    if (groupBy(gridId, key)) {
      event.preventDefault();
      // The link goes away with the swap: keep the keyboard where the grouping now is.
      pendingFocus = key ? gridId + "-ungroup" : gridId + "-group";
    }
  });

  /* -- "Todas las fechas": its dates show what applies (htmx never redraws the toolbar) ---------
     The server lets the box win over dates still in the form; here checking it clears them, and
     typing a date unchecks it, so the form on screen always says what the list shows. */
  function everyDate(target) {
    var fieldset = target.closest && target.closest("fieldset");
    return fieldset && fieldset.querySelector("[data-every-date]");
  }

  function dates(box) {
    return Array.prototype.slice.call(box.closest("fieldset").querySelectorAll("input[type=text]"));
  }

  document.addEventListener("change", function (event) {
    var box = everyDate(event.target);
    if (!box) return;
    if (event.target === box) {
      if (box.checked) dates(box).forEach(function (input) { input.value = ""; });
    } else if (dates(box).every(function (input) { return !input.value.trim(); })) {
      box.checked = true;  // both dates cleared: every date, as the server reads it
    }
  });

  document.addEventListener("input", function (event) {
    var box = event.target.type === "text" && everyDate(event.target);
    if (box && event.target.value.trim()) box.checked = false;
  });

  /* -- the print view's "Imprimir" button ---------------------------------------------------- */
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });

  function enhance(root) {
    show(root);
    document.querySelectorAll(MENUS).forEach(sync);
    if (pendingFocus) {
      var target = document.getElementById(pendingFocus);
      pendingFocus = null;
      if (target) target.focus();
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    enhance(document);
    var toggle = document.querySelector(".menu-toggle");
    if (toggle) {
      toggle.setAttribute("role", "button");
      toggle.setAttribute("aria-expanded", "false");
    }
  });
  document.addEventListener("htmx:afterSettle", function (event) { enhance(event.target.ownerDocument); });
})();
