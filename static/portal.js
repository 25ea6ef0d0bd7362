// harborlite portal: the little JavaScript it needs. Every form works without it.
(function () {
  "use strict";

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return fallbackCopy(text); });
    }
    return fallbackCopy(text);
  }

  function flashButton(button, label, cls) {
    var before = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", before);
    button.textContent = label;
    button.classList.add(cls);
    window.setTimeout(function () {
      button.textContent = before;
      button.classList.remove(cls);
    }, 1600);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    copyText(text).then(
      function () {
        if (button.classList.contains("icon-btn")) {
          button.classList.add("copied");
          window.setTimeout(function () { button.classList.remove("copied"); }, 1600);
        } else {
          flashButton(button, "Copied!", "copied");
        }
      },
      function () {
        var input = button.parentElement && button.parentElement.querySelector(".copy-text");
        if (input) { input.focus(); input.select(); }
        flashButton(button, "Press Ctrl+C", "copy-failed");
      }
    );
  });

  // Selecting a pull command on focus makes manual copying one keystroke.
  document.addEventListener("focusin", function (event) {
    if (event.target.classList && event.target.classList.contains("copy-text")) {
      event.target.select();
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
