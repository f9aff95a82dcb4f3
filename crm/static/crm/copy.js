// Copy buttons: <button data-copy="text">. The clipboard API needs HTTPS or localhost;
// elsewhere the text is selected so Ctrl+C copies it.
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const text = button.dataset.copy;
  const done = () => {
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done);
    return;
  }
  const code = button.closest("tr").querySelector("code");
  window.getSelection().selectAllChildren(code);
  document.execCommand("copy") && done();
});
