// Bundled at set-up into static/vendor/charts.js: Vega-Lite with the expression interpreter,
// so charts render under a Content-Security-Policy that forbids eval.
import vegaEmbed from "vega-embed";
import { expressionInterpreter } from "vega-interpreter";

window.icsCharts = { vegaEmbed, expressionInterpreter };
