// Live length of a Text-4-Info reply: characters and SMS segments (160 GSM characters is one
// segment; longer texts go in 153-character parts; any non-GSM character makes it 70 / 67).
"use strict";
(function () {
  const GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  const GSM_EXTENDED = "^{}\\[~]|€\f";

  function measure(text) {
    let units = 0;
    let gsm = true;
    for (const ch of text) {
      if (GSM.includes(ch)) units += 1;
      else if (GSM_EXTENDED.includes(ch)) units += 2;
      else gsm = false;
    }
    if (!gsm) units = Array.from(text).length;
    const single = gsm ? 160 : 70;
    const part = gsm ? 153 : 67;
    const segments = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / part);
    return { units, segments, single, gsm };
  }

  function attach(box) {
    const out = document.createElement("div");
    out.className = "help sms-counter";
    out.setAttribute("aria-live", "polite");
    // Below the box, where the admin puts help text, not beside it in the flex row.
    const row = box.closest(".flex-container") || box;
    row.insertAdjacentElement("afterend", out);
    const update = () => {
      const m = measure(box.value);
      out.textContent = `${m.units} / ${m.single} characters · ${m.segments} SMS segment` +
        (m.segments === 1 ? "" : "s") + (m.gsm ? "" : " (non-GSM characters: 70 per SMS)");
      out.style.color = m.segments > 1 ? "#ba2121" : "";
    };
    box.addEventListener("input", update);
    update();
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("textarea[data-sms-counter]").forEach(attach);
  });
})();
