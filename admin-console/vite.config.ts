/**
 * The console is served by the API at /admin (backend/app/routers/admin_console.py) from dist/.
 * `base: "./"`: asset URLs relative to the page, so it works under /admin/ and behind a proxy's
 * path prefix (the API's --root-path) alike. The API's typed client is used from its source
 * (clients/typescript/src); its one run-time dependency, openapi-fetch, resolves from here.
 */
import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

const clientSource = fileURLToPath(new URL("../clients/typescript/src/index.ts", import.meta.url));

export default defineConfig({
  base: "./",
  resolve: {
    alias: { "fastapi-better-auth-client": clientSource },
    dedupe: ["openapi-fetch"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    // One small app: no need to warn about chunk sizes below Better-Auth's client.
    chunkSizeWarningLimit: 200,
  },
  server: { fs: { allow: [".", "../clients/typescript/src"] } },
});
