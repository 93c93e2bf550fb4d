// Kiln's own browser code: partial page updates, charts, and API calls with confirmation.
// Pages work without it (links and forms are plain HTML); this makes them quicker.
"use strict";

const kiln = (() => {
  const project = () => document.body.dataset.project || "";

  function toast(message, ms = 6000) {
    const box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.textContent = ""; }, ms);
  }

  function drawCharts(root) {
    if (typeof Plotly === "undefined") return;
    root.querySelectorAll("[data-chart]").forEach((el) => {
      const source = document.getElementById(el.dataset.chart);
      if (!source || el.dataset.drawn) return;
      const spec = JSON.parse(source.textContent);
      el.dataset.drawn = "1";
      Plotly.newPlot(el, spec.data, spec.layout || {}, { responsive: true, displaylogo: false });
    });
  }

  // Partial updates: a [data-partial] link or GET form inside a [data-partial-target]
  // fetches the same URL with X-Kiln-Partial and swaps the target's content.
  async function swap(target, url, push) {
    target.setAttribute("data-loading", "");
    try {
      const response = await fetch(url, { headers: { "X-Kiln-Partial": "1" } });
      const html = await response.text();
      if (!response.ok && !html) throw new Error(`${response.status}`);
      target.innerHTML = html;
      if (push) history.pushState({ partial: target.id }, "", url);
      drawCharts(target);
      init(target);
    } catch (error) {
      window.location.assign(url);  // fall back to a full page load
    } finally {
      target.removeAttribute("data-loading");
    }
  }

  function partialTarget(el) {
    const holder = el.closest("[data-partial-target]");
    return holder ? document.getElementById(holder.dataset.partialTarget) || holder : null;
  }

  // A form's fields, and its data-* text with {field} replaced by their values: a form's
  // data-api may name fields that belong in the path (e.g. .../aliases/{alias}); those are
  // URL-encoded there and left out of the JSON body, which the API checks strictly.
  function formFields(el) {
    return el.tagName === "FORM" ? Object.fromEntries(new FormData(el).entries()) : {};
  }

  function fill(text, fields, encode) {
    if (!text) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => {
      if (!(name in fields)) return whole;
      return encode ? encodeURIComponent(fields[name]) : String(fields[name]);
    });
  }

  async function callApi(el) {
    const method = el.dataset.method || "POST";
    const fields = formFields(el);
    const url = fill(el.dataset.api, fields, true);
    let body = el.dataset.body || null;
    if (el.tagName === "FORM") {
      const inPath = new Set([...el.dataset.api.matchAll(/\{(\w+)\}/g)].map((m) => m[1]));
      const data = Object.fromEntries(Object.entries(fields).filter(([name]) => !inPath.has(name)));
      body = JSON.stringify({ ...(body ? JSON.parse(body) : {}), ...data });
    }
    const response = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json", "X-Kiln-UI": "1", "X-Kiln-Project": project() },
      body,
    });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { const error = await response.json(); message = error.message || message; } catch (_) {}
      throw new Error(message);
    }
    return response;
  }

  function confirmThen(message, action) {
    const dialog = document.createElement("dialog");
    dialog.setAttribute("aria-labelledby", "confirm-text");
    dialog.innerHTML = '<form method="dialog"><p id="confirm-text"></p><p class="error-message" role="alert"></p>' +
      '<div class="toolbar"><button value="cancel">Cancel</button><button value="ok" class="primary">Confirm</button></div></form>';
    dialog.querySelector("#confirm-text").textContent = message;
    document.body.appendChild(dialog);
    const ok = dialog.querySelector('button[value="ok"]');
    ok.addEventListener("click", async (event) => {
      event.preventDefault();
      ok.disabled = true;
      try {
        await action();
        dialog.close();
      } catch (error) {
        dialog.querySelector(".error-message").textContent = error.message;
        ok.disabled = false;
      }
    });
    dialog.addEventListener("close", () => dialog.remove());
    dialog.showModal();
    dialog.querySelector('button[value="cancel"]').focus();
  }

  function runAction(el) {
    const fields = formFields(el);
    const act = async () => {
      // Read the whole answer before navigating: leaving mid-body aborts the request.
      await (await callApi(el)).text();
      const done = fill(el.dataset.done, fields, false) || "Done";
      sessionStorage.setItem("kiln-toast", done);
      const then = fill(el.dataset.then, fields, true);
      // Same URL: assign() would only scroll to a #hash, so reload to show the change.
      if (!then || then === window.location.href) window.location.reload();
      else window.location.assign(then);
    };
    if (el.dataset.confirm) confirmThen(fill(el.dataset.confirm, fields, false), act);
    else act().catch((error) => toast(error.message));
  }

  function init(root) {
    root.querySelectorAll("select[data-autosubmit]").forEach((select) => {
      select.addEventListener("change", () => select.form.submit());
    });
    root.querySelectorAll("a[data-partial]").forEach((link) => {
      const target = partialTarget(link);
      if (!target) return;
      link.addEventListener("click", (event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        swap(target, link.href, true);
      });
    });
    root.querySelectorAll("form[data-partial]").forEach((form) => {
      const target = partialTarget(form);
      if (!target) return;
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const params = new URLSearchParams(new FormData(form));
        swap(target, `${form.action.split("?")[0]}?${params}`, true);
      });
    });
    root.querySelectorAll("button[data-api]").forEach((button) => {
      button.addEventListener("click", (event) => { event.preventDefault(); runAction(button); });
    });
    root.querySelectorAll("form[data-api]").forEach((form) => {
      form.addEventListener("submit", (event) => { event.preventDefault(); runAction(form); });
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    init(document);
    drawCharts(document);
    const skip = document.querySelector("a.skip");
    if (skip) {
      skip.addEventListener("click", (event) => {
        event.preventDefault();  // a fragment jump alone leaves focus on <body> in Chromium
        const main = document.getElementById("main");
        main.focus();
        main.scrollIntoView();
      });
    }
    const pending = sessionStorage.getItem("kiln-toast");
    if (pending) { sessionStorage.removeItem("kiln-toast"); toast(pending); }
    document.addEventListener("keydown", (event) => {
      const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
      if (event.key === "/" && !typing) {
        const box = document.getElementById("search-box");
        if (box) { event.preventDefault(); box.focus(); }
      }
    });
    window.addEventListener("popstate", () => window.location.reload());
  });

  return { drawCharts, toast, callApi };
})();
