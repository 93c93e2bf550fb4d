// The labeling page (one task at a time, keyboard first), the review queue's forms, export.
// Every answer and decision is a call to /api/v1/labeling with the UI's CSRF header.
"use strict";

(() => {
  const project = document.body.dataset.project || "";

  // The response's status and JSON body; an error status throws with the API's message.
  async function send(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-Kiln-UI": "1",
        "X-Kiln-Project": project,
      },
      body: JSON.stringify(body),
    });
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try { const error = await response.json(); message = error.message || message; } catch (_) {}
      throw new Error(message);
    }
    return { status: response.status, body: await response.json() };
  }

  async function post(url, body) {
    return (await send(url, body)).body;
  }

  function reloadWith(message) {
    sessionStorage.setItem("kiln-toast", message);
    window.location.reload();
  }

  // ---- the labeling page ----
  function labeling(root) {
    const spec = JSON.parse(document.getElementById("labeling-spec").textContent);
    const status = document.getElementById("labeling-status");
    const comment = document.getElementById("labeling-comment");
    const buttons = [...root.querySelectorAll("button[data-label]")];
    const ner = spec.task_type === "ner";
    const multi = spec.task_type === "multilabel";
    const started = performance.now();
    let chosen = new Set();
    let spans = [];
    let busy = false;

    const say = (message, error = false) => {
      status.textContent = message;
      status.classList.toggle("error", error);
    };

    const initial = spec.prediction ? spec.prediction.label : null;
    if (ner) {
      if (Array.isArray(initial)) spans = initial.map((s) => ({ start: s.start, end: s.end, label: s.label }));
    } else if (multi) {
      if (Array.isArray(initial)) chosen = new Set(initial.filter((l) => spec.labels.includes(l)));
    } else if (spec.labels.includes(initial)) {
      chosen = new Set([initial]);
    }

    function showChoices() {
      buttons.forEach((b) => b.setAttribute("aria-pressed", chosen.has(b.dataset.label) ? "true" : "false"));
    }

    // Spans: the text is drawn again from the original after every change, so the
    // container's text always equals the item's text and offsets stay exact.
    const textBox = document.getElementById("labeling-text");
    const spanList = document.getElementById("ner-spans");
    const noSpans = document.getElementById("ner-none");

    function drawSpans() {
      const text = spec.text || "";
      spans.sort((a, b) => a.start - b.start);
      textBox.replaceChildren();
      let at = 0;
      spans.forEach((span) => {
        if (span.start > at) textBox.append(text.slice(at, span.start));
        const mark = document.createElement("mark");
        mark.className = "span";
        mark.dataset.label = span.label;
        mark.title = span.label;
        mark.textContent = text.slice(span.start, span.end);
        textBox.append(mark);
        at = span.end;
      });
      if (at < text.length) textBox.append(text.slice(at));
      spanList.replaceChildren();
      spans.forEach((span, index) => {
        const item = document.createElement("li");
        const quoted = text.slice(span.start, span.end);
        item.append(`“${quoted}” `);
        const label = document.createElement("strong");
        label.textContent = span.label;
        item.append(label, ` [${span.start}, ${span.end}) `);
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = "Remove";
        remove.setAttribute("aria-label", `Remove span “${quoted}” (${span.label})`);
        remove.addEventListener("click", () => {
          spans.splice(index, 1);
          drawSpans();
          say(`Removed “${quoted}”.`);
        });
        item.append(remove);
        spanList.append(item);
      });
      noSpans.hidden = spans.length > 0;
    }

    function selectedSpan() {
      const selection = window.getSelection();
      if (!selection || selection.rangeCount === 0 || selection.isCollapsed) return null;
      const range = selection.getRangeAt(0);
      if (!textBox.contains(range.startContainer) || !textBox.contains(range.endContainer)) return null;
      const before = document.createRange();
      before.selectNodeContents(textBox);
      before.setEnd(range.startContainer, range.startOffset);
      const text = spec.text || "";
      let start = before.toString().length;
      let end = start + range.toString().length;
      while (start < end && /\s/.test(text[start])) start += 1;
      while (end > start && /\s/.test(text[end - 1])) end -= 1;
      return start < end ? { start, end } : null;
    }

    function markSelection(label) {
      const picked = selectedSpan();
      if (!picked) {
        say("Select part of the text first, then press the entity's key.", true);
        return;
      }
      const kept = spans.filter((s) => s.end <= picked.start || s.start >= picked.end);
      const replaced = spans.length - kept.length;
      spans = [...kept, { ...picked, label }];
      window.getSelection().removeAllRanges();
      drawSpans();
      const quoted = (spec.text || "").slice(picked.start, picked.end);
      say(`Marked “${quoted}” as ${label}` + (replaced ? ` (replacing ${replaced} overlapping span${replaced > 1 ? "s" : ""}).` : "."));
    }

    function choose(label) {
      if (ner) { markSelection(label); return; }
      if (multi) {
        if (chosen.has(label)) chosen.delete(label); else chosen.add(label);
      } else {
        chosen = new Set([label]);
      }
      showChoices();
      say(multi ? `Chosen: ${[...chosen].join(", ") || "none"}.` : `Chosen: ${label}. Enter submits.`);
    }

    async function send(body, done) {
      if (busy) return;
      busy = true;
      say(body.skip ? "Skipping…" : "Saving…");
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      try {
        const answer = await post(spec.api, { ...body, comment: comment.value, seconds });
        reloadWith(done + (answer.completed ? "; the task is complete" : ""));
      } catch (error) {
        say(error.message, true);
        busy = false;
      }
    }

    function submit() {
      let label;
      if (ner) label = spans.map((s) => ({ start: s.start, end: s.end, label: s.label }));
      else if (multi) label = spec.labels.filter((l) => chosen.has(l));
      else {
        if (chosen.size === 0) { say("Choose a label first (press its key), or skip with S.", true); return; }
        [label] = [...chosen];
      }
      send({ label }, `Task ${spec.task} saved`);
    }

    function skip() { send({ skip: true }, `Task ${spec.task} skipped`); }

    buttons.forEach((button) => {
      // Keep the text selection when an entity button is pressed with the mouse.
      if (ner) button.addEventListener("mousedown", (event) => event.preventDefault());
      button.addEventListener("click", () => choose(button.dataset.label));
    });
    document.getElementById("labeling-submit").addEventListener("click", submit);
    document.getElementById("labeling-skip").addEventListener("click", skip);

    document.addEventListener("keydown", (event) => {
      if (event.defaultPrevented || event.altKey || event.isComposing) return;
      const active = document.activeElement;
      const typing = active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName);
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        submit();
        return;
      }
      if (typing) {
        if (event.key === "Escape") active.blur();
        return;
      }
      if (event.ctrlKey || event.metaKey) return;
      const index = spec.shortcuts.indexOf(event.key);
      if (index >= 0) {
        event.preventDefault();
        choose(spec.labels[index]);
        return;
      }
      if (event.key === "s" || event.key === "S") {
        event.preventDefault();
        skip();
        return;
      }
      if (event.key === "Enter") {
        // Enter on a link, Skip or Remove does what that control does; anywhere else it submits.
        const own = active && (active.tagName === "A" || (active.tagName === "BUTTON" && !active.dataset.label)
          || active.tagName === "SUMMARY");
        if (own) return;
        event.preventDefault();
        submit();
      }
    });

    if (ner) drawSpans();
    else showChoices();
    if (spec.prediction) say("The model's pre-annotation is chosen; change it or press Enter.");
  }

  // ---- the review queue ----
  function reviewForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const problem = form.querySelector(".error-message");
      let label;
      if (form.getAttribute("data-kind") === "multi") {
        label = data.getAll("label");
      } else {
        const value = data.get("label");
        if (value === null) { problem.textContent = "Choose the final label first."; return; }
        label = JSON.parse(value);
      }
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      try {
        await post(form.getAttribute("data-review-api"), { label, note: data.get("note") || "" });
        reloadWith(`Task ${form.getAttribute("data-task")} reviewed`);
      } catch (error) {
        problem.textContent = error.message;
        button.disabled = false;
      }
    });
  }

  // ---- export (a form field named "dataset" hides form.dataset, so attributes are read) ----
  function exportForm(form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const dataset = new FormData(form).get("dataset");
      const button = form.querySelector('button[type="submit"]');
      const problem = document.getElementById("export-error");
      button.disabled = true;
      problem.textContent = "";
      try {
        const { status, body: done } = await send(form.getAttribute("data-export-api"), { dataset });
        if (status === 202) {  // a large project: a job exports it, and its page follows it
          sessionStorage.setItem("kiln-toast", `Exporting the labels in the background as job ${done.job.id}`);
          window.location.assign(done.page_url);
          return;
        }
        sessionStorage.setItem("kiln-toast", `Exported the labels as ${done.ref}`);
        window.location.assign(`/datasets/${encodeURIComponent(done.dataset.name)}`);
      } catch (error) {
        problem.textContent = error.message;
        button.disabled = false;
      }
    });
  }

  const start = () => {
    const root = document.querySelector("[data-labeling]");
    if (root) labeling(root);
    document.querySelectorAll("form[data-review]").forEach(reviewForm);
    document.querySelectorAll("form[data-export-api]").forEach(exportForm);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
