/*
 * llmcalc custom functions for Excel (Office.js, shared runtime).
 *
 * The server prepends LLMCALC_FUNCTIONS, the function table generated from the llmcalc registry:
 * {functions: [{id, params: [names], matrix: bool}]}. Every id is associated with one generic
 * function that queues the call; Microsoft's batching pattern then sends all queued calls in one
 * POST /api/v1/batch and settles each cell from the response by index. Per-call errors become
 * CustomFunctions.Error with the server's code and message (#VALUE! and #N/A show the message in
 * Excel); a server that cannot be reached gives #N/A with a message for every waiting cell.
 *
 * Written as ES5 with XMLHttpRequest so that it also runs in older Office webviews.
 */
(function (global) {
  "use strict";

  var table = global.LLMCALC_FUNCTIONS || { functions: [] };
  var BATCH_DELAY_MS = 15;   // collect the calls of one recalculation before sending
  var MAX_CALLS = 500;       // per request (the server allows 1000)
  var TOKEN_KEY = "llmcalc.token";
  var queue = [];
  var timer = null;

  function endpoint() {
    // Same origin as the page that loaded this script (the task pane in the shared runtime).
    var a = global.document ? global.document.createElement("a") : null;
    if (a) {
      a.href = "api/v1/batch";
      return a.href;
    }
    return "api/v1/batch";
  }

  function readToken() {
    try {
      return global.localStorage ? global.localStorage.getItem(TOKEN_KEY) || "" : "";
    } catch (e) {
      return "";
    }
  }

  function PromiseClass() {
    if (typeof global.Promise === "function") return global.Promise;
    return global.OfficeExtension && global.OfficeExtension.Promise;
  }

  function cellError(code, message) {
    var CF = global.CustomFunctions;
    var codes = CF.ErrorCode;
    var chosen = codes.invalidValue;
    for (var key in codes) {
      if (Object.prototype.hasOwnProperty.call(codes, key) && codes[key] === code) chosen = codes[key];
    }
    // Excel shows a custom message only for #VALUE! and #N/A.
    if (chosen === codes.invalidValue || chosen === codes.notAvailable) return new CF.Error(chosen, message);
    return new CF.Error(chosen);
  }

  // A single cell arrives as [[x]] for a matrix parameter: send it as x. Omitted optional
  // arguments arrive as null/undefined: send null (the server then uses the default).
  function argument(value) {
    if (value === undefined) return null;
    if (Array.isArray(value) && value.length === 1 && Array.isArray(value[0]) && value[0].length === 1) {
      return value[0][0];
    }
    return value;
  }

  function shape(value, matrix) {
    if (!matrix) return value;
    if (!Array.isArray(value)) return [[value]];
    if (value.length && !Array.isArray(value[0])) {
      var column = [];
      for (var i = 0; i < value.length; i++) column.push([value[i]]);
      return column;
    }
    return value;
  }

  function settle(op, result) {
    if (!result) {
      op.reject(cellError("#N/A", "llmcalc server gave no result for this cell"));
    } else if (result.error) {
      op.reject(cellError(result.error.code, result.error.message));
    } else {
      op.resolve(shape(result.value, op.fn.matrix));
    }
  }

  function failAll(ops, message) {
    for (var i = 0; i < ops.length; i++) ops[i].reject(cellError("#N/A", message));
  }

  function send(ops) {
    var calls = [];
    for (var i = 0; i < ops.length; i++) calls.push(ops[i].call);
    var xhr = new global.XMLHttpRequest();
    var url = endpoint();
    xhr.open("POST", url, true);
    xhr.setRequestHeader("Content-Type", "application/json");
    var token = readToken();
    if (token) xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.onload = function () {
      if (xhr.status === 401) {
        failAll(ops, "llmcalc server needs a token: open the llmcalc task pane and set it");
        return;
      }
      if (xhr.status !== 200) {
        failAll(ops, "llmcalc server answered HTTP " + xhr.status + ": " + String(xhr.responseText).slice(0, 200));
        return;
      }
      var body;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (e) {
        failAll(ops, "llmcalc server sent an unreadable answer");
        return;
      }
      for (var j = 0; j < ops.length; j++) settle(ops[j], body.results && body.results[j]);
    };
    xhr.onerror = function () {
      failAll(ops, "llmcalc server unreachable at " + url + " (is `llmcalc serve` running?)");
    };
    xhr.ontimeout = xhr.onerror;
    xhr.timeout = 60000;
    xhr.send(JSON.stringify({ calls: calls }));
  }

  function flush() {
    timer = null;
    var batch = queue;
    queue = [];
    for (var i = 0; i < batch.length; i += MAX_CALLS) send(batch.slice(i, i + MAX_CALLS));
  }

  function invoke(fn, args) {
    var P = PromiseClass();
    return new P(function (resolve, reject) {
      var values = [];
      for (var i = 0; i < fn.params.length; i++) values.push(argument(args[i]));
      while (values.length && values[values.length - 1] === null) values.pop();
      queue.push({ call: { "function": fn.id, args: values }, fn: fn, resolve: resolve, reject: reject });
      if (timer === null) timer = global.setTimeout(flush, BATCH_DELAY_MS);
    });
  }

  function bind(fn) {
    // Excel passes the declared parameters in order (and may append an invocation object,
    // which invoke() ignores by reading only fn.params.length arguments).
    return function () {
      return invoke(fn, Array.prototype.slice.call(arguments, 0, fn.params.length));
    };
  }

  var api = { functions: {}, flush: flush, tokenKey: TOKEN_KEY };
  for (var k = 0; k < table.functions.length; k++) {
    var fn = table.functions[k];
    api.functions[fn.id] = bind(fn);
  }
  global.llmcalcFunctions = api;

  if (global.CustomFunctions && typeof global.CustomFunctions.associate === "function") {
    for (var id in api.functions) {
      if (Object.prototype.hasOwnProperty.call(api.functions, id)) {
        global.CustomFunctions.associate(id, api.functions[id]);
      }
    }
  }
})(typeof self !== "undefined" ? self : this);
