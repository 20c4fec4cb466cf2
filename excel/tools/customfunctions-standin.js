/*
 * Test stand-in for Office.js, served by the browser tests in place of
 * https://appsforoffice.microsoft.com/lib/1/hosted/office.js (routed by Playwright).
 *
 * It provides what llmcalc's pages use: CustomFunctions.associate (one id or a mapping),
 * CustomFunctions.Error(code, message) with .code/.message, CustomFunctions.ErrorCode (the test fills
 * in the values from Microsoft's @types/custom-functions-runtime), and Office.onReady. It does not
 * emulate Excel: the tests call the associated functions with arguments shaped as Excel passes
 * them (a matrix parameter gets a 2-D array, an omitted optional argument null) and record what
 * the promise settles to.
 */
(function (global) {
  "use strict";
  var ErrorCode = __ERROR_CODES__;
  function CFError(code, message) {
    this.code = code;
    if (message !== undefined) this.message = message;
  }
  var functions = {};
  global.CustomFunctions = {
    ErrorCode: ErrorCode,
    Error: CFError,
    associate: function (id, fn) {
      if (typeof id === "object") {
        for (var k in id) functions[k.toUpperCase()] = id[k];
      } else {
        functions[String(id).toUpperCase()] = fn;
      }
    }
  };
  global.Office = {
    HostType: { Excel: "Excel" },
    onReady: function (callback) {
      var info = { host: "Excel", platform: "OfficeOnline" };
      var p = Promise.resolve(info);
      if (callback) p.then(callback);
      return p;
    }
  };
  global.__standin = {
    functions: functions,
    // Call an associated function like Excel would; resolve to {value} or {error}.
    call: function (id, args) {
      return Promise.resolve()
        .then(function () { return functions[id].apply(null, args); })
        .then(function (value) { return { value: value }; },
              function (e) {
                return { error: { code: e && e.code, message: e && e.message, isCustomFunctionsError: e instanceof CFError } };
              });
    }
  };
})(window);
