// Parse an add-in-only XML manifest with Microsoft's office-addin-manifest (offline) and print
// what it read as JSON. Usage: node manifest_info.js manifest.xml
"use strict";
const { OfficeAddinManifest } = require("office-addin-manifest");

OfficeAddinManifest.readManifestFile(process.argv[2])
  .then((info) => process.stdout.write(JSON.stringify(info)))
  .catch((err) => {
    console.error(err && err.stack ? err.stack : err);
    process.exit(1);
  });
