// Builds the portal's page into functions/admin_api/portal_assets/ (shipped with the admin API's
// function): one minified ES module, one stylesheet, the HTML shell. No CDN, no inline script.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "functions", "admin_api", "portal_assets");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.tsx")],
  outfile: join(out, "portal.js"),
  bundle: true,
  format: "esm",
  minify: true,
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(join(here, "src", "portal.css"), join(out, "portal.css"));
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
console.log(`portal built into ${out}`);
