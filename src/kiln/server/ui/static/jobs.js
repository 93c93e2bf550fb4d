// A running job's page: append its new output as it comes, reload once its status changes.
// Without this script the page reloads itself every few seconds (a <noscript> refresh).
"use strict";

(() => {
  const follow = document.querySelector("[data-job-follow]");
  if (!follow) return;
  const log = document.getElementById(follow.dataset.target);
  const project = document.body.dataset.project || "";
  let offset = Number(follow.dataset.offset) || 0;

  async function poll() {
    try {
      const response = await fetch(`${follow.dataset.logs}?offset=${offset}`, {
        headers: { "X-Kiln-Project": project, Accept: "application/json" },
      });
      if (response.ok) {
        const body = await response.json();
        if (body.text) {
          const atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
          log.append(body.text);
          if (atEnd) log.scrollTop = log.scrollHeight;
          const empty = document.getElementById("job-log-empty");
          if (empty) empty.remove();
        }
        offset = body.next_offset;
        if (body.status !== follow.dataset.status) {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // The server is away for a moment (a restart): try again on the next tick.
    }
    setTimeout(poll, 1000);
  }
  setTimeout(poll, 1000);
})();
