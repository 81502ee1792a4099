// Render every element with a data-vega attribute (a Vega-Lite spec) with vega-embed.
// `ast: true` evaluates Vega expressions with vega-embed's interpreter instead of compiling
// them with `new Function`, so the pages pass a Content-Security-Policy without 'unsafe-eval'.
document.addEventListener("DOMContentLoaded", () => {
  for (const el of document.querySelectorAll("[data-vega]")) {
    vegaEmbed(el, JSON.parse(el.dataset.vega), { actions: false, renderer: "svg", ast: true }).catch((e) => {
      el.textContent = "chart could not be drawn: " + e;
    });
  }
});
