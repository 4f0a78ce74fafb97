// Polls the order's small JSON status endpoint until the order reaches a final state.
(function () {
  var box = document.getElementById("status");
  if (!box || box.dataset.final === "1") return;
  var url = box.dataset.url, every = parseInt(box.dataset.poll, 10) || 1500;
  function tick() {
    fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) {
          box.textContent = data.text;
          box.className = "status " + data.tone;
          box.dataset.status = data.status;
          if (data.final) { box.dataset.final = "1"; return; }
        }
        setTimeout(tick, every);
      })
      .catch(function () { setTimeout(tick, every * 2); });
  }
  setTimeout(tick, every);
})();
