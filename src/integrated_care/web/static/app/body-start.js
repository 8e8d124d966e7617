// Marks the page as script-capable before the NHS.UK components render (kept out of the HTML so
// the Content-Security-Policy can forbid inline script).
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " nhsuk-frontend-supported" : "");
