// Render every element with a data-vega attribute (a Vega-Lite spec) with vega-embed.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-vega]")) {
    vegaEmbed(el, JSON.parse(el.dataset.vega), { actions: false, renderer: "svg" }).catch((e) => {
      el.textContent = "chart could not be drawn: " + e;
    });
  }
});
