/* Progressive enhancement for the one modal (<dialog data-modal>). Pages work without it:
   a dialog then simply stays open in the page and its buttons close it or navigate. */
(function () {
  "use strict";
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
  document.addEventListener("DOMContentLoaded", function () { show(document); });
  document.addEventListener("htmx:afterSettle", function (event) { show(event.target.ownerDocument); });
})();
