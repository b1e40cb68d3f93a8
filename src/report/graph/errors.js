// Errors of any script on this page, for the self-test (`#selftest`) to report.
window.phoenixErrors = [];
window.addEventListener('error', function (e) {
  window.phoenixErrors.push('error: ' + (e.message || String(e)));
});
(function () {
  var original = console.error;
  console.error = function () {
    window.phoenixErrors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
    return original.apply(console, arguments);
  };
})();
