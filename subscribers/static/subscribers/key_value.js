// "Add a field" under a custom-fields table: a new empty name / value row.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-add-row]");
  if (!button) return;
  const body = document.getElementById(button.dataset.addRow).querySelector("tbody");
  const row = body.rows[body.rows.length - 1].cloneNode(true);
  for (const input of row.querySelectorAll("input")) input.value = "";
  body.appendChild(row);
  row.querySelector("input").focus();
});
