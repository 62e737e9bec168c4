// The sending pages' own script (no library, no CDN): fields shown for the chosen option,
// one submission per click, and the result page following the send until it is final.
(function () {
  "use strict";

  // Fields that only matter for one choice of a radio group: {radio name: {value: [field names]}}.
  var DEPENDENT = {
    when: {scheduled: ["scheduled_at"], spread: ["window_start", "window_end", "per_day", "interval_minutes"]},
    target: {user: ["puid"], broadcast: ["app", "country", "platform"]}
  };
  var POLL_MS = 1500;

  function row(form, name) {
    return form.querySelector('[data-field="' + name + '"]');
  }

  function showChosen(form) {
    Object.keys(DEPENDENT).forEach(function (radio) {
      var checked = form.querySelector('input[name="' + radio + '"]:checked');
      if (!checked) return;
      Object.keys(DEPENDENT[radio]).forEach(function (value) {
        DEPENDENT[radio][value].forEach(function (name) {
          var element = row(form, name);
          if (element) element.hidden = checked.value !== value;
        });
      });
    });
  }

  function guardSubmit(form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.submitted) {
        event.preventDefault();  // a second click: the first one is on its way
        return;
      }
      form.dataset.submitted = "true";
      // The button's name/value must still be sent: disable after the browser read them.
      window.setTimeout(function () {
        form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
      }, 0);
    });
  }

  // The price as the form is typed: the page's own check and quote (price_view), sending
  // nothing; shown once the form is complete, hidden while it is not.
  var PREVIEW_DELAY_MS = 600;

  function preview(form) {
    var box = form.querySelector("[data-price-preview]");
    if (!box || !form.dataset.priceUrl) return;
    var timer = null;
    var asked = 0;
    function ask() {
      var mine = ++asked;
      fetch(form.dataset.priceUrl, {method: "POST", body: new FormData(form), credentials: "same-origin"})
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (mine !== asked) return;  // a newer question is on its way
          if (!answer.quote) { box.hidden = true; return; }
          box.textContent = box.dataset.pricePreview.replace(/\{(\w+)\}/g, function (_, key) {
            return key === "total" ? answer.quote.total_shown : answer.quote[key];
          });
          box.hidden = false;
        })
        .catch(function () { box.hidden = true; });
    }
    form.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, PREVIEW_DELAY_MS);
    });
    form.addEventListener("change", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, PREVIEW_DELAY_MS);
    });
  }

  function follow(panel) {
    var url = panel.dataset.url;
    function apply(progress) {
      Object.keys(progress.counts).forEach(function (status) {
        var cell = panel.querySelector('[data-count="' + status + '"]');
        if (cell) cell.textContent = progress.counts[status];
      });
      ["status_label", "total", "scheduled"].forEach(function (key) {
        var cell = panel.querySelector('[data-progress="' + key + '"]');
        if (cell && progress[key] !== undefined) cell.textContent = progress[key];
      });
      panel.querySelector("[data-status]").dataset.status = progress.status;
      panel.dataset.final = progress.final ? "true" : "false";
      var note = panel.querySelector('[data-progress="note"]');
      if (note && progress.final) note.textContent = note.dataset.finalText;  // in the page's language
    }
    function poll() {
      fetch(url, {credentials: "same-origin", headers: {Accept: "application/json"}})
        .then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        })
        .then(function (progress) {
          apply(progress);
          if (!progress.final) window.setTimeout(poll, POLL_MS);
        })
        .catch(function () { window.setTimeout(poll, POLL_MS * 4); });  // the server is busy or restarting
    }
    if (panel.dataset.final !== "true") window.setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-console-form]").forEach(function (form) {
      showChosen(form);
      form.addEventListener("change", function () { showChosen(form); });
      guardSubmit(form);
      preview(form);
    });
    var panel = document.getElementById("console-progress");
    if (panel) follow(panel);
  });
})();
