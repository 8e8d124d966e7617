// Starts the NHS.UK frontend components, then draws every Vega-Lite chart on the page.
import { initAll } from "/static/vendor/nhsuk/nhsuk-frontend.min.js";

initAll();

// A chart is <div class="ics-chart" data-spec-id="x"> with its spec in
// <script type="application/json" id="x">; the interpreter keeps Vega free of eval under the CSP.
for (const el of document.querySelectorAll(".ics-chart[data-spec-id]")) {
  const specEl = document.getElementById(el.dataset.specId);
  if (!specEl || !window.icsCharts) continue;
  const spec = JSON.parse(specEl.textContent);
  window.icsCharts.vegaEmbed(el, spec, {
    actions: false,
    ast: true,
    expr: window.icsCharts.expressionInterpreter,
    renderer: "svg",
  }).catch((err) => {
    el.textContent = "This chart could not be drawn: " + err.message;
  });
}
