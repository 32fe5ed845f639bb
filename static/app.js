// Hookline dashboard behaviour: toasts, the modal dialog, copy buttons, auto-submit.
// Everything here is progressive enhancement: every action also works as a plain form.
(function () {
  "use strict";

  // ---- issue 16, defect 6: toasts ----
  // A short stack in the bottom-right corner: at most MAX_TOASTS (the oldest goes), each with
  // a close button; info and success leave after TOAST_MS (not while the pointer or focus is
  // on them), errors stay until closed. While modal dialogs are open the region lives in the
  // topmost one: the rest of the page is inert then and under the top layer, so a toast
  // outside would be hidden and unclickable. <main> gets room below its last row for the
  // stack (--toast-room), so scrolling to the end uncovers the last row's actions.
  var TOAST_MS = 5000, TOAST_LEAVING_MS = 400, MAX_TOASTS = 3;

  function toastRegion() { return document.getElementById("toasts"); }

  function makeRoomForToasts() {
    var box = toastRegion();
    var height = box && box.childElementCount ? box.getBoundingClientRect().height : 0;
    document.documentElement.style.setProperty("--toast-room", Math.ceil(height) + "px");
  }

  function removeToast(toast) {
    clearTimeout(toast.expiry);
    var hadFocus = toast.contains(document.activeElement);
    toast.remove();
    makeRoomForToasts();
    if (hadFocus) {
      var next = toastRegion() && toastRegion().querySelector(".toast-close");
      if (next) next.focus();
    }
  }

  function expireLater(toast) {
    clearTimeout(toast.expiry);
    toast.expiry = setTimeout(function () {
      toast.classList.add("toast-leaving");
      toast.expiry = setTimeout(function () { removeToast(toast); }, TOAST_LEAVING_MS);
    }, TOAST_MS);
  }

  function showToast(message, level) {
    var box = toastRegion();
    if (!box) return;
    level = level || "success";
    var toast = document.createElement("div");
    toast.className = "toast toast-" + level;
    toast.setAttribute("role", level === "error" ? "alert" : "status");
    var text = document.createElement("p");
    text.className = "toast-message";
    text.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss notification");
    close.textContent = "\u00d7";
    toast.append(text, close);
    box.appendChild(toast);
    while (box.childElementCount > MAX_TOASTS) removeToast(box.firstElementChild);
    if (level !== "error") {
      expireLater(toast);
      var hold = function () { clearTimeout(toast.expiry); toast.classList.remove("toast-leaving"); };
      var resume = function () { if (!toast.matches(":hover, :focus-within")) expireLater(toast); };
      toast.addEventListener("mouseenter", hold);
      toast.addEventListener("focusin", hold);
      toast.addEventListener("mouseleave", resume);
      toast.addEventListener("focusout", function () { setTimeout(resume, 0); });
    }
    makeRoomForToasts();
  }

  window.addEventListener("resize", makeRoomForToasts);  // a narrower stack wraps taller

  document.addEventListener("click", function (event) {
    var close = event.target.closest(".toast-close");
    if (close) removeToast(close.closest(".toast"));
  });

  // Modal dialogs in the order they opened; any dialog (the #modal one, a confirmation)
  // counts, whoever opens it.
  var openModals = [];
  function placeToasts() {
    var box = toastRegion();
    if (!box) return;
    openModals = openModals.filter(function (dialog) { return dialog.isConnected && dialog.matches(":modal"); });
    var home = openModals[openModals.length - 1] || document.body;
    if (box.parentNode !== home) home.appendChild(box);
  }
  new MutationObserver(function (changes) {
    changes.forEach(function (change) {
      var dialog = change.target;
      if (dialog.localName !== "dialog") return;
      openModals = openModals.filter(function (open) { return open !== dialog; });
      if (dialog.matches(":modal")) openModals.push(dialog);
    });
    placeToasts();
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["open"], subtree: true });
  // ---- end of defect 6 ----

  function modal() { return document.getElementById("modal"); }

  document.addEventListener("toast", function (event) {
    showToast(event.detail.message, event.detail.level);
  });

  // Every way of closing #modal comes here (the server's closeModal, the ✕ and Done links,
  // the backdrop; Esc and other close requests in defect 1 below): a secret shown once and
  // not copied asks first.
  function closeModal() {
    var dialog = modal();
    if (dialog && dialog.open && !keepSecret()) dialog.close();
  }

  document.addEventListener("closeModal", closeModal);

  // htmx then moves focus to the new content's [autofocus] field when it settles.
  // New content starts at its top: a secret swapped in after scrolling down to the
  // Create button must be in view.
  document.addEventListener("htmx:afterSwap", function (event) {
    var dialog = modal();
    var target = event.detail.target;
    if (!dialog || !target || target.id !== "modal-body") return;
    if (!dialog.open) dialog.showModal();
    dialog.scrollTop = 0;
    target.scrollTop = 0;
  });

  document.addEventListener("htmx:responseError", function (event) {
    var text = event.detail.xhr.responseText || "The request failed.";
    showToast(text.length > 200 ? "The request failed (" + event.detail.xhr.status + ")." : text, "error");
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("Hookline could not be reached. Check your connection.", "error");
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest("[data-close-modal]");
    if (closer) {
      event.preventDefault();
      closeModal();
      return;
    }
    var copy = event.target.closest("[data-copy-target]");
    if (copy) {
      var source = document.getElementById(copy.getAttribute("data-copy-target"));
      var text = source ? (source.value || source.textContent).trim() : "";
      var done = function () {
        var label = copy.textContent;
        copy.textContent = "Copied";
        copy.classList.add("copied");
        copy.dispatchEvent(new CustomEvent("copied", { bubbles: true }));  // the once-only secret (defect 1) waits for it
        setTimeout(function () { copy.textContent = label; copy.classList.remove("copied"); }, 2000);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () { showToast("Copy failed: select the text and copy it.", "error"); });
      } else {
        var area = document.createElement("textarea");
        area.value = text;
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
        done();
      }
    }
  });

  // A closed dialog keeps nothing: a secret shown once must not linger in the page. Unless
  // it closed with that secret at risk, on a close request the page could not refuse:
  // keepSecret opens it again and asks.
  document.addEventListener("DOMContentLoaded", function () {
    var dialog = modal();
    if (dialog) dialog.addEventListener("close", function () {
      if (keepSecret()) return;
      var secret = secretShown();
      document.getElementById("modal-body").replaceChildren();
      if (secret) focusAfterSecret(secret);
    });
  });

  // Clicking the dialog's backdrop closes it, as users expect of a modal. Not a focus
  // change: what closing (or asking) focused keeps the focus.
  document.addEventListener("mousedown", function (event) {
    if (event.target !== modal()) return;
    event.preventDefault();
    closeModal();
  });

  // A delivery contract preset fills the form's contract fields (templates/webhooks/_contract.html)
  // from the button's JSON: field name -> value (true/false for a checkbox, a list for a group
  // of checkboxes); `add_headers` are lines the custom headers box gains if it lacks them.
  // The change event then refreshes the preview.
  function applyPreset(form, preset) {
    Object.keys(preset).forEach(function (name) {
      var value = preset[name];
      if (name === "add_headers") {
        var box = form.elements.headers;
        if (!box) return;
        var lines = box.value ? box.value.split("\n") : [];
        value.forEach(function (line) {
          var header = line.split(":")[0].toLowerCase();
          if (!lines.some(function (l) { return l.split(":")[0].trim().toLowerCase() === header; })) lines.push(line);
        });
        box.value = lines.join("\n");
        return;
      }
      var field = form.elements[name];
      if (!field) return;
      var inputs = field instanceof RadioNodeList ? Array.prototype.slice.call(field) : [field];
      inputs.forEach(function (input) {
        if (input.type === "checkbox" || input.type === "radio") {
          input.checked = Array.isArray(value) ? value.indexOf(input.value) >= 0
            : typeof value === "boolean" ? value : input.value === value;
        } else {
          input.value = value;
        }
      });
    });
    form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-contract-preset]");
    if (!button || !button.form) return;
    event.preventDefault();
    applyPreset(button.form, JSON.parse(button.getAttribute("data-contract-preset")));
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-autosubmit]")) event.target.form.requestSubmit();
  });

  // ---- issue 16, defect 9: focus goes to the first invalid field ----
  // A form answered 422 comes back with its errors (aria-invalid on a field, or has-error on
  // its wrapper); keyboard and screen-reader users land on the first in the page's order,
  // whatever the form marked [autofocus]. Only after a 422 swap: a live refresh must never
  // pull the focus away from the user.
  var INVALID = ":is([aria-invalid=true], .has-error :is(input, textarea, select)):not([disabled], [readonly], [type=hidden])";
  function focusFirstInvalid(root) {
    var field = root && root.querySelector(INVALID);
    if (field) field.focus();
  }
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) focusFirstInvalid(event.detail.elt);
  });
  // A plain form post with a mistake answers with the whole page.
  document.addEventListener("DOMContentLoaded", function () { focusFirstInvalid(document.getElementById("main")); });
  // ---- end of defect 9 ----

  // ---- issue 16, defect 13: styled confirmations for every hx-confirm ----
  // htmx asks with window.confirm() unless htmx:confirm is answered: the question goes into
  // base.html's #confirm-dialog instead, its first sentence as the title and the rest as
  // the detail, with the trigger's own label ("Delete", "Revoke", "Rotate secret") on the
  // danger button. Cancel has the focus; Esc, the backdrop and Cancel all leave things as
  // they were. A second modal dialog opens over #modal when the trigger is inside it.
  // askToConfirm is that dialog for any question (the once-only secret's too, defect 1).
  var answered = null;  // called with true (the danger button) or false, once the dialog closed

  function confirmDialog() { return document.getElementById("confirm-dialog"); }

  function askToConfirm(question, onAnswer) {
    var dialog = confirmDialog();
    dialog.querySelector("#confirm-title").textContent = question.title;
    var detail = dialog.querySelector("#confirm-detail");
    detail.textContent = question.detail || "";
    detail.hidden = !question.detail;
    dialog.querySelector("[value=confirm]").textContent = question.confirmLabel;
    dialog.querySelector("[value=cancel]").textContent = question.cancelLabel || "Cancel";
    answered = onAnswer;
    dialog.returnValue = "";
    dialog.showModal();
    dialog.querySelector("[value=cancel]").focus();
  }

  function actionLabel(detail) {
    var elt = detail.elt;
    var trigger = (detail.triggeringEvent && detail.triggeringEvent.submitter)
      || (elt.matches("button, a, input[type=submit]") ? elt : elt.querySelector("button[type=submit], button:not([type]), input[type=submit]"));
    var label = trigger ? (trigger.value && trigger.localName === "input" ? trigger.value : trigger.textContent) : "";
    return label.replace(/(\u2026|\.\.\.)\s*$/, "").trim() || "Confirm";  // "Delete…" asks; its answer is "Delete"
  }

  document.addEventListener("htmx:confirm", function (event) {
    if (!event.detail.question || !confirmDialog()) return;  // nothing to ask: htmx goes ahead
    event.preventDefault();
    var question = event.detail.question, split = question.indexOf("? ");
    var issueRequest = event.detail.issueRequest, trigger = event.detail.elt;
    askToConfirm({
      title: split < 0 ? question : question.slice(0, split + 1),
      detail: split < 0 ? "" : question.slice(split + 2),
      confirmLabel: actionLabel(event.detail),
    }, function (confirmed) {
      if (confirmed) issueRequest(true);
      // A trigger inside a row's menu is hidden once the menu closed: its summary takes the focus.
      var menu = trigger.closest("details.menu");
      if (menu && !menu.open && document.body.contains(menu)) menu.querySelector("summary").focus();
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = confirmDialog();
    if (!dialog) return;
    dialog.addEventListener("close", function () {
      var onAnswer = answered;
      answered = null;
      if (onAnswer) onAnswer(dialog.returnValue === "confirm");
    });
    dialog.addEventListener("mousedown", function (event) {
      if (event.target === dialog) dialog.close("cancel");  // its backdrop
    });
  });
  // ---- end of styled confirmations ----

  // ---- issue 16, defect 13: an action waiting on the network says so ----
  // The button or link that started an htmx request is aria-busy (a spinner, app.css) and
  // aria-disabled until the answer is in; clicks on it meanwhile are dropped, so a double
  // click sends one request. aria-disabled rather than [disabled] keeps the keyboard focus
  // where it was. Requests nobody clicked for (polling, autosubmitted filters, previews)
  // mark nothing.
  var busyControls = new WeakMap();  // the request's xhr -> the control it marked

  function controlOf(detail) {
    var cause = detail.requestConfig && detail.requestConfig.triggeringEvent;
    if (cause && cause.submitter) return cause.submitter;
    var elt = detail.elt;
    return elt && elt.matches("button, a[href], input[type=submit]") ? elt : null;
  }

  document.addEventListener("htmx:beforeRequest", function (event) {
    var control = controlOf(event.detail);
    if (!control || control.getAttribute("aria-busy") === "true") return;
    busyControls.set(event.detail.xhr, control);
    control.setAttribute("aria-busy", "true");
    control.setAttribute("aria-disabled", "true");
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var control = busyControls.get(event.detail.xhr);
    if (!control) return;
    busyControls.delete(event.detail.xhr);
    control.removeAttribute("aria-busy");
    control.removeAttribute("aria-disabled");
  });

  // Capturing, so htmx's own listeners on the element never see the repeated click or submit.
  function dropWhileBusy(event) {
    var control = event.type === "submit" ? event.submitter : event.target.closest && event.target.closest("[aria-busy=true]");
    if (control && control.getAttribute("aria-busy") === "true") {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }
  document.addEventListener("click", dropWhileBusy, true);
  document.addEventListener("submit", dropWhileBusy, true);
  // ---- end of the in-flight state ----
  // ---- issue 16, defect 4: a webhook row's menu of secondary actions (templates/webhooks/_row.html) ----
  // A <details class="menu"> opens and closes with a click, Enter or Space, also without
  // JavaScript. Here: Esc closes it and puts the focus back on its summary, a click outside
  // or on one of its items closes it, so does tabbing out of it, and opening one closes the others.
  function openMenus() { return document.querySelectorAll("details.menu[open]"); }
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    openMenus().forEach(function (menu) {
      var inside = menu.contains(document.activeElement);
      menu.open = false;
      if (inside) menu.querySelector("summary").focus();
    });
  });
  document.addEventListener("click", function (event) {
    var item = event.target.closest("details.menu .menu-item");
    openMenus().forEach(function (menu) {
      if (!menu.contains(event.target) || (item && menu.contains(item))) menu.open = false;
    });
  });
  // Only when the focus lands on something else: a click that focuses nothing (Safari's
  // on buttons) must not close the menu before the click reaches its item.
  document.addEventListener("focusout", function (event) {
    var menu = event.target.closest && event.target.closest("details.menu[open]");
    if (menu && event.relatedTarget && !menu.contains(event.relatedTarget)) menu.open = false;
  });
  document.addEventListener("toggle", function (event) {
    var opened = event.target;
    if (!opened.matches || !opened.matches("details.menu") || !opened.open) return;
    openMenus().forEach(function (menu) { if (menu !== opened) menu.open = false; });
  }, true);
  // ---- end of defect 4 ----
  // ---- issue 16, defect 1: a secret shown once is not lost by one Esc ----
  // templates/webhooks/_secret.html marks its content [data-secret-once=shown]. Until its
  // Copy button (or Ctrl+C in the secret's field) copied the secret, closing #modal in any
  // way asks first (closeModal, the cancel event, Esc, and the close listener above all
  // end in keepSecret). "Go back" keeps the dialog with the focus on the secret; "Close
  // without copying" lets the secret go. The focus then lands on the webhook's row, or on
  // the page's first heading, never on <body>. Esc is answered on keydown, before Chrome's
  // close watcher: a second Esc without a click between would fire a cancel that cannot be
  // prevented, and a question opened by an Esc would close together with #modal.
  var SECRET_QUESTION = {
    title: "Have you copied the secret?",
    detail: "You will not see it again. Without it your receivers cannot verify requests; rotating gives a new one.",
    confirmLabel: "Close without copying",
    cancelLabel: "Go back",
  };

  function secretShown() { return modal() && modal().querySelector("[data-secret-once]"); }

  function secretAtRisk() {
    var secret = secretShown();
    return Boolean(secret) && secret.getAttribute("data-secret-once") === "shown";
  }

  function focusSecret() {
    var input = modal().querySelector("#signing-secret");
    input.focus();
    input.select();
  }

  // True when the secret is at risk: #modal stays (or is again) open and the question is asked.
  function keepSecret() {
    if (!secretAtRisk()) return false;
    var dialog = modal();
    if (!dialog.open) dialog.showModal();
    if (!confirmDialog().open) askToConfirm(SECRET_QUESTION, function (letGo) {
      if (!letGo) return focusSecret();
      secretShown().setAttribute("data-secret-once", "let go");
      dialog.close();
    });
    return true;
  }

  function focusAfterSecret(secret) {
    var row = document.getElementById("webhook-" + secret.getAttribute("data-webhook-id"));
    var next = (row && row.querySelector("a.webhook-name")) || document.querySelector("#main :is(h1, h2)") || document.getElementById("main");
    if (next.tabIndex < 0) next.setAttribute("tabindex", "-1");  // a heading: focusable, not tabbable
    next.focus();
  }

  function secretCopied() {
    var secret = secretShown();
    if (secret) secret.setAttribute("data-secret-once", "copied");
  }
  document.addEventListener("copied", function (event) {
    if (event.target.getAttribute("data-copy-target") === "signing-secret") secretCopied();
  });
  document.addEventListener("copy", function (event) {
    if (event.target.id === "signing-secret") secretCopied();
  });

  // Opened, the secret has the focus, selected, ready for Ctrl+C.
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.target.id === "modal-body" && secretShown()) focusSecret();
  });

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || !secretAtRisk() || !modal().open) return;
    event.preventDefault();
    if (confirmDialog().open) confirmDialog().close("cancel");  // Esc on the question: Go back
    else keepSecret();
  }, true);

  // Other close requests (a phone's back gesture, requestClose()). One the page may not
  // refuse (not cancelable) closes the dialog; the close listener above opens it again.
  document.addEventListener("DOMContentLoaded", function () {
    var dialog = modal();
    if (dialog) dialog.addEventListener("cancel", function (event) {
      if (event.cancelable && keepSecret()) event.preventDefault();
    });
  });
  // ---- end of the once-only secret ----
  // ---- issue 16, defect 3: the event choice (templates/webhooks/_form.html) ----
  // "All events" or "Select events" is a pair of radios and CSS shows the list under the
  // latter, so the form works without JavaScript (the server decides, app/web/event_choice.py).
  // Here: choosing "Select events" moves the focus to the filter; the filter narrows a long
  // catalog to the types whose name or description contain what is typed; the count says
  // what is ticked. A family's box (order.*) counts as one, like any other box.
  function eventChoices(root) {
    var found = Array.prototype.slice.call(root.querySelectorAll(".event-choice"));
    if (root.matches && root.matches(".event-choice")) found.push(root);
    return found;
  }

  function countEvents(fieldset) {
    var boxes = fieldset.querySelectorAll("input[name=events]");
    var ticked = fieldset.querySelectorAll("input[name=events]:checked").length;
    var text = ticked + " of " + boxes.length + " event types selected";
    if (fieldset.querySelector("input[name=event_choice][value=all]").checked) {
      var operational = fieldset.querySelectorAll(".event-operational input[name=events]:checked").length;
      text = "All events" + (operational ? " and " + operational + " operational event type" + (operational === 1 ? "" : "s") : "")
        + " selected";
    }
    fieldset.querySelector(".event-count").textContent = text;
  }

  function filterEvents(fieldset, query) {
    var needle = query.trim().toLowerCase();
    var shown = 0;
    fieldset.querySelectorAll(".event-list .event-group").forEach(function (group) {
      var inGroup = 0;
      group.querySelectorAll(".checkbox").forEach(function (label) {
        var match = label.textContent.toLowerCase().indexOf(needle) !== -1;
        label.hidden = !match;
        if (match) inGroup += 1;
      });
      group.hidden = inGroup === 0;
      shown += inGroup;
    });
    var none = fieldset.querySelector(".event-no-match");
    none.hidden = shown > 0;
    none.textContent = shown > 0 ? "" : "No event type matches \u201c" + query.trim() + "\u201d";
  }

  document.addEventListener("htmx:load", function (event) {
    eventChoices(event.detail.elt).forEach(function (fieldset) {
      fieldset.querySelector(".event-search").hidden = false;
      countEvents(fieldset);
    });
  });

  document.addEventListener("change", function (event) {
    var fieldset = event.target.closest && event.target.closest(".event-choice");
    if (!fieldset || !event.target.matches("input[name=events], input[name=event_choice]")) return;
    countEvents(fieldset);
    if (event.target.matches("input[name=event_choice][value=selected]")) fieldset.querySelector(".event-search input").focus();
  });

  // Capturing, and kept from the form: typing a filter changes nothing the form sends, so the
  // request preview (hx-trigger "input from:closest form") has no reason to refresh, and Enter
  // in it must not submit the form.
  function eventFilter(event) { return event.target.closest && event.target.closest(".event-search input"); }
  ["input", "change"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var input = eventFilter(event);
      if (!input) return;
      event.stopPropagation();
      filterEvents(input.closest(".event-choice"), input.value);
    }, true);
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && eventFilter(event)) event.preventDefault();
  });
  // ---- end of the event choice ----
})();
