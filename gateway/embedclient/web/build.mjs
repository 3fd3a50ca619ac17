// build.mjs bundles the client into ../dist: one minified IIFE (the element and, on the
// frame page, the frame mode) and the frame page itself. Type checking is tsc's job.
import { build } from "esbuild";
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "..", "dist");

await mkdir(dist, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.ts")],
  outfile: join(dist, "oriel-embed.js"),
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  legalComments: "none",
  logLevel: "warning",
});
await copyFile(join(here, "frame.html"), join(dist, "frame.html"));
