// Run Microsoft's custom-functions-metadata parser (the one the Yeoman/webpack build uses) on a
// JSDoc-annotated JavaScript file and print {metadata, associate, errors} as JSON.
// Usage: node check_metadata.js FILE.js
"use strict";
const { generateCustomFunctionsMetadata } = require("custom-functions-metadata");

generateCustomFunctionsMetadata(process.argv[2], false)
  .then((result) => {
    process.stdout.write(JSON.stringify({
      metadata: JSON.parse(result.metadataJson || "{}"),
      associate: result.associate || [],
      errors: result.errors || [],
    }));
  })
  .catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
