// Load the served functions.js (read from stdin) in a Node vm with a CustomFunctions stand-in and
// print the ids it associates, with the number of parameters each bound function reads.
"use strict";
const vm = require("vm");

let source = "";
process.stdin.on("data", (d) => (source += d));
process.stdin.on("end", () => {
  const associated = [];
  const sandbox = {
    CustomFunctions: {
      associate(id, fn) {
        if (typeof fn !== "function") throw new Error("associate(" + id + ") without a function");
        associated.push(id);
      },
      Error: function (code, message) { this.code = code; this.message = message; },
      ErrorCode: { invalidValue: "#VALUE!", notAvailable: "#N/A" },
    },
    setTimeout, clearTimeout, Promise,
  };
  sandbox.self = sandbox;
  vm.createContext(sandbox);
  vm.runInContext(source, sandbox, { filename: "functions.js" });
  process.stdout.write(JSON.stringify({ associated, table: sandbox.LLMCALC_FUNCTIONS }));
});
