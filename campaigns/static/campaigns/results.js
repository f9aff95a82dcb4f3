// The poll results page: breakdowns load on demand, live mode refreshes the counts.
(() => {
  const draw = (root) => {
    // Unfold draws every canvas.chart once, on load; a fragment loaded later is drawn here.
    for (const canvas of root.querySelectorAll("canvas.chart")) {
      new Chart(canvas.getContext("2d"), {
        type: canvas.dataset.type,
        data: JSON.parse(canvas.dataset.value),
        options: JSON.parse(canvas.dataset.options),
      });
    }
  };

  document.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-breakdown]");
    if (!button) return;
    const target = document.getElementById("breakdown");
    target.textContent = "Loading…";
    const response = await fetch(button.dataset.breakdown, { credentials: "same-origin" });
    target.innerHTML = response.ok ? await response.text() : "Could not load this breakdown.";
    draw(target);
  });

  let timer = null;
  const refresh = async (url) => {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) return;
    const data = await response.json();
    document.getElementById("total-votes").textContent = data.votes;
    document.getElementById("total-voters").textContent = data.voters;
    for (const [id, figures] of Object.entries(data.choices)) {
      const row = document.querySelector(`#choices tr[data-choice="${id}"]`);
      if (!row) continue;  // a choice made since the page loaded: reload to see it
      row.querySelector(".votes").textContent = figures.votes;
      row.querySelector(".voters").textContent = figures.voters;
      row.querySelector(".share").textContent = figures.share;
      row.querySelector(".crm-fill").style.width = figures.share;
    }
  };
  document.addEventListener("change", (event) => {
    if (event.target.id !== "live") return;
    clearInterval(timer);
    if (event.target.checked) {
      const url = event.target.dataset.url;
      refresh(url);
      timer = setInterval(() => refresh(url), 5000);
    }
  });
})();
