// Render every element with a data-vega attribute (a Vega-Lite spec) with vega-embed.
// `ast: true` evaluates Vega expressions with vega-embed's interpreter instead of compiling
// them with `new Function`, so the pages pass a Content-Security-Policy without 'unsafe-eval'.
// Times sent as <time datetime="...Z"> (UTC) are shown in the viewer's zone, the zone named.
document.addEventListener("DOMContentLoaded", () => {
  const local = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", timeZoneName: "short",
  });
  for (const el of document.querySelectorAll("time[datetime]")) {
    const t = new Date(el.getAttribute("datetime"));
    if (!Number.isNaN(t.getTime())) {
      el.title = el.textContent;  // the UTC time stays on hover
      el.textContent = local.format(t);
    }
  }
  for (const el of document.querySelectorAll("[data-vega]")) {
    vegaEmbed(el, JSON.parse(el.dataset.vega), { actions: false, renderer: "svg", ast: true }).catch((e) => {
      el.textContent = "chart could not be drawn: " + e;
    });
  }
});
