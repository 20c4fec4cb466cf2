// Run a Google Sheets Apps Script file (.gs) in a Node vm with stand-ins for the Apps Script
// services it uses, and call its custom functions as Sheets would.
//
// stdin: {"source": "...gs text...", "properties": {"LLMCALC_TOKEN": "..."}, "calls": [["LLM_X", arg, ...]]}
// stdout: {"results": [{"value": v} | {"error": "message"}], "fetches": [{"url", "method", "headers"}],
//          "functions": [names of global functions]}
//
// UrlFetchApp.fetch is synchronous in Apps Script; the stand-in makes a real HTTP request from a
// child Node process (fetch) and waits for it, so the script talks to the real llmcalc server.
"use strict";
const vm = require("vm");
const { spawnSync } = require("child_process");

const CHILD = `
let input = "";
process.stdin.on("data", (d) => (input += d));
process.stdin.on("end", async () => {
  const { url, options } = JSON.parse(input);
  try {
    const r = await fetch(url, { method: (options.method || "get").toUpperCase(), headers: options.headers,
                                 body: options.payload });
    process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() }));
  } catch (e) {
    process.stdout.write(JSON.stringify({ error: String(e && e.cause ? e.cause.code || e.cause : e) }));
  }
});`;

let stdin = "";
process.stdin.on("data", (d) => (stdin += d));
process.stdin.on("end", () => {
  const job = JSON.parse(stdin);
  const fetches = [];
  const UrlFetchApp = {
    fetch(url, options) {
      options = options || {};
      const headers = Object.assign({}, options.headers || {});
      if (options.contentType) headers["Content-Type"] = options.contentType;
      fetches.push({ url, method: options.method || "get", headers: Object.keys(headers) });
      const child = spawnSync(process.execPath, ["-e", CHILD], {
        input: JSON.stringify({ url, options: { method: options.method, headers, payload: options.payload } }),
        encoding: "utf8", timeout: 30000,
      });
      const out = JSON.parse(child.stdout || '{"error": "no answer"}');
      if (out.error) throw new Error("Exception: Address unavailable: " + url + " (" + out.error + ")");
      if (out.status >= 400 && !options.muteHttpExceptions) {
        throw new Error("Exception: Request failed for " + url + " returned code " + out.status);
      }
      return { getResponseCode: () => out.status, getContentText: () => out.body };
    },
  };
  const props = job.properties || {};
  const PropertiesService = {
    getScriptProperties: () => ({ getProperty: (k) => (k in props ? props[k] : null) }),
  };
  const sandbox = { UrlFetchApp, PropertiesService, JSON, Array, Object, String, Error };
  vm.createContext(sandbox);
  vm.runInContext(job.source, sandbox, { filename: "llmcalc.gs" });
  const functions = Object.keys(sandbox).filter((k) => typeof sandbox[k] === "function" && /^LLM_/.test(k));
  const results = job.calls.map(([name, ...args]) => {
    try {
      // Sheets passes omitted arguments as undefined (JSON null here means "omitted")
      return { value: sandbox[name].apply(null, args.map((a) => (a === null ? undefined : a))) };
    } catch (e) {
      return { error: e.message };
    }
  });
  process.stdout.write(JSON.stringify({ results, fetches, functions }));
});
