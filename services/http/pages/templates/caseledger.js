// The pages' only script, served from the node (/assets/caseledger.js): the
// Content-Security-Policy runs no inline script or event handler.
document.addEventListener("DOMContentLoaded", function () {
  var print = document.getElementById("print");
  if (print) {
    print.addEventListener("click", function () { window.print(); });
    print.dataset.ready = "yes";
  }
});
