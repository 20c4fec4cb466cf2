/*
 * llmcalc task pane: a calculator form for any registry function and the function list.
 * Works inside Excel and in any browser (it needs only this server's API, same origin).
 */
(function () {
  "use strict";

  var TOKEN_KEY = "llmcalc.token";
  var functionsByName = {};
  var $ = function (id) { return document.getElementById(id); };

  function headers() {
    var h = { "Content-Type": "application/json" };
    var token = "";
    try { token = localStorage.getItem(TOKEN_KEY) || ""; } catch (e) { /* storage disabled */ }
    if (token) h.Authorization = "Bearer " + token;
    return h;
  }

  function api(path, body) {
    var init = body === undefined ? { headers: headers() } :
      { method: "POST", headers: headers(), body: JSON.stringify(body) };
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = JSON.parse(text); } catch (e) { /* not JSON */ }
        if (!response.ok) {
          var message = data && data.error ? data.error.message :
            (data && data.detail ? JSON.stringify(data.detail) : "HTTP " + response.status + " " + text);
          var err = new Error(message);
          err.status = response.status;
          throw err;
        }
        return data;
      });
    });
  }

  function el(tag, text, attrs) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (var k in attrs || {}) node.setAttribute(k, attrs[k]);
    return node;
  }

  function clearErrors() {
    $("error").hidden = true;
    Array.prototype.forEach.call(document.querySelectorAll("#args input[aria-invalid]"), function (input) {
      input.removeAttribute("aria-invalid");
      var note = $(input.id + "-error");
      if (note) note.parentNode.removeChild(note);
    });
  }

  // An error is shown where it happened: under the argument it names ("argument 'gpus': ..."),
  // and in the result's place.
  function showError(message) {
    var box = $("error");
    box.textContent = message;
    box.hidden = false;
    $("output").hidden = true;
    var m = /argument '([A-Za-z0-9_]+)'/.exec(message);
    var input = m && $("arg-" + m[1]);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      var note = el("div", message.replace(/^argument '[^']+': /, ""), { id: input.id + "-error", "class": "field-error" });
      input.parentNode.insertBefore(note, input.nextSibling);
      input.setAttribute("aria-errormessage", note.id);
    }
  }

  function setBusy(busy) {
    $("busy").hidden = !busy;
    $("compute").disabled = busy;
    $("compute").textContent = busy ? "Computing…" : "Compute";
    $("calculator").setAttribute("aria-busy", busy ? "true" : "false");
    if (busy) $("output").hidden = true;
  }

  // Parameter and token counts, as llmcalc.display writes them (175000000000 -> "175B"); the server
  // reads "175B" back exactly, and the cell formula gets the exact number again.
  var COUNT_SUFFIXES = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];

  function isCount(arg) {
    return /parameter|^token$/.test(arg.unit || "");
  }

  function countText(n) {
    for (var i = 0; i < COUNT_SUFFIXES.length - 1; i++) {
      var size = COUNT_SUFFIXES[i][0];
      var short = parseFloat((n / size).toPrecision(4));
      if (Math.abs(n) >= size && short * size === n) return String(short) + COUNT_SUFFIXES[i][1];
    }
    return String(n);
  }

  function exactCount(text) {
    var m = /^([+-]?\d+(?:\.\d+)?)\s*([kmbt])$/i.exec(text);
    if (!m) return null;
    var size = COUNT_SUFFIXES.filter(function (s) { return s[1] === m[2].toUpperCase(); })[0][0];
    return String(Math.round(parseFloat(m[1]) * size));
  }

  function cellLiteral(text, arg) {
    var t = text.trim();
    var exact = isCount(arg) ? exactCount(t) : null;
    if (exact) return exact;
    if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t) || /^(TRUE|FALSE)$/i.test(t)) return t.toUpperCase();
    return '"' + t.replace(/"/g, '""') + '"';
  }

  function renderArgs(fn) {
    var box = $("args");
    box.textContent = "";
    $("function-summary").textContent = fn.summary + " Returns " + fn.returns + ".";
    fn.args.forEach(function (a, i) {
      var id = "arg-" + a.name;
      var label = el("label", a.name + (a.optional ? " (optional)" : ""), { "for": id });
      if (a.unit) label.appendChild(el("span", " [" + a.unit + "]", { "class": "unit" }));
      var input = el("input", null, { id: id, name: a.name, title: a.help, "aria-describedby": id + "-help" });
      if (a.optional) input.placeholder = "default: " + (a.default === null ? "from the catalog" : a.default);
      else input.required = true;
      if (fn.example && i < fn.example.length && fn.example[i] !== null) {
        var example = fn.example[i];
        input.value = typeof example === "number" && isCount(a) ? countText(example) : String(example);
      }
      box.appendChild(label);
      box.appendChild(input);
      box.appendChild(el("div", a.help, { id: id + "-help", "class": "muted" }));
    });
  }

  function selectFunction(name) {
    var fn = functionsByName[name];
    if (!fn) return;
    $("function").value = name;
    renderArgs(fn);
    $("output").hidden = true;
    clearErrors();
  }

  function compute(event) {
    if (event) event.preventDefault();
    var fn = functionsByName[$("function").value];
    var named = {};
    var literals = [];
    fn.args.forEach(function (a) {
      var value = $("arg-" + a.name).value;
      if (value.trim() !== "") named[a.name] = value.trim();
      literals.push(value.trim() === "" ? "" : cellLiteral(value, a));
    });
    while (literals.length && literals[literals.length - 1] === "") literals.pop();
    clearErrors();
    setBusy(true);
    api("api/v1/explain", { "function": fn.name, named: named }).then(function (data) {
      setBusy(false);
      var x = data.explanation;
      $("result").textContent = x.result;
      $("cell-formula").textContent = "=" + fn.name + "(" + literals.join(", ") + ")";
      $("formula").textContent = x.formula;
      var steps = $("steps"); steps.textContent = "";
      (x.steps || []).forEach(function (s) { steps.appendChild(el("li", s)); });
      var inputs = $("inputs"); inputs.textContent = "";
      Object.keys(x.inputs || {}).forEach(function (k) {
        inputs.appendChild(el("dt", k)); inputs.appendChild(el("dd", x.inputs[k]));
      });
      var assumptions = $("assumptions"); assumptions.textContent = "";
      (x.assumptions || []).forEach(function (s) { assumptions.appendChild(el("li", s)); });
      var sources = $("sources"); sources.textContent = "";
      (x.sources || []).forEach(function (s) { sources.appendChild(el("li", s)); });
      $("output").hidden = false;
    }).catch(function (err) { setBusy(false); showError(err.message); });
  }

  function renderList(list) {
    var select = $("function");
    var body = document.querySelector("#function-list tbody");
    list.forEach(function (fn) {
      functionsByName[fn.name] = fn;
      select.appendChild(el("option", fn.name, { value: fn.name }));
      var row = el("tr", null, { id: "row-" + fn.name });
      var cell = el("td");
      var link = el("a", fn.signature, { href: "#fn=" + fn.name });
      cell.appendChild(link);
      row.appendChild(cell);
      row.appendChild(el("td", fn.returns, { "class": "returns" }));
      row.appendChild(el("td", fn.summary));
      body.appendChild(row);
    });
  }

  function fromHash() {
    var m = /fn=([A-Z0-9_.]+)/.exec(location.hash || "");
    return m && functionsByName[m[1]] ? m[1] : null;
  }

  function init() {
    $("calc-form").addEventListener("submit", compute);
    $("function").addEventListener("change", function () { selectFunction(this.value); });
    window.addEventListener("hashchange", function () { var n = fromHash(); if (n) selectFunction(n); });
    $("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      try {
        var t = $("token").value.trim();
        if (t) localStorage.setItem(TOKEN_KEY, t); else localStorage.removeItem(TOKEN_KEY);
        $("token-status").textContent = t ? "saved" : "cleared";
      } catch (e) { $("token-status").textContent = "this browser blocks storage"; }
      if (!Object.keys(functionsByName).length) loadList();
    });
    if (window.Office && typeof Office.onReady === "function") {
      Office.onReady(function (info) {
        if (info && info.host) $("host-status").textContent = "connected to " + info.host;
      });
    }
    loadList();
  }

  function loadList() {
    api("api/v1/functions").then(function (list) {
      $("error").hidden = true;
      renderList(list);
      selectFunction(fromHash() || (functionsByName.LLM_TRAIN_DAYS ? "LLM_TRAIN_DAYS" : list[0].name));
      // Show a worked example straight away when the registry has one for this function.
      var fn = functionsByName[$("function").value];
      if (fn.example && fn.example.length) compute();
    }).catch(function (err) {
      if (err.status === 401) {
        showError("This llmcalc server needs a token: enter it under \"Server token\" below.");
        $("token-form").parentNode.open = true;
      } else {
        showError("Cannot load the function list: " + err.message);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
