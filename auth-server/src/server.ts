/**
 * HTTP server: Better-Auth on /api/auth/*, GET /health, 404 for everything else.
 * Stops cleanly on SIGTERM / SIGINT (closes the server and the database, exits 0).
 */
import http from "node:http";

import { toNodeHandler } from "better-auth/node";

import { CLIENT_IP_HEADER, createAuth, openDatabase } from "./auth.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { providerSummary } from "./social.ts";
import { describeSecondaryStorage } from "./secondary-storage.ts";
import { betterAuthBefore, betterAuthVersion } from "./versions.ts";

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`[auth-server] ${error.message}`);
    process.exit(1);
  }
  throw error;
}

if (config.secretIsDevDefault) {
  console.warn(
    "[auth-server] WARNING: BETTER_AUTH_SECRET is not set; using the built-in development secret. " +
      "Anyone can forge sessions with it. Set BETTER_AUTH_SECRET (NODE_ENV=production requires it).",
  );
}

const database = openDatabase(config);
const auth = createAuth(config, database);
const authHandler = toNodeHandler(auth);

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(payload) });
  res.end(payload);
}

// CORS for browsers on a trusted origin (TRUSTED_ORIGINS, "*" wildcards allowed). Better-Auth itself
// checks the Origin of state-changing requests; these headers only let a browser read the answers.
const corsPatterns = config.trustedOrigins.map(
  (origin) => new RegExp(`^${origin.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`),
);

function applyCors(req: http.IncomingMessage, res: http.ServerResponse): boolean {
  const origin = req.headers.origin;
  if (!origin || !corsPatterns.some((pattern) => pattern.test(origin))) return false;
  res.setHeader("access-control-allow-origin", origin);
  res.setHeader("access-control-allow-credentials", "true");
  res.setHeader("access-control-expose-headers", "set-auth-token, set-auth-jwt");
  res.setHeader("vary", "Origin");
  return true;
}

const server = http.createServer((req, res) => {
  const pathname = (req.url ?? "/").split("?")[0];
  const corsAllowed = applyCors(req, res);
  if (req.method === "OPTIONS" && corsAllowed && req.headers["access-control-request-method"]) {
    res.writeHead(204, {
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers": req.headers["access-control-request-headers"] ?? "content-type, authorization",
      "access-control-max-age": "600",
    });
    res.end();
    return;
  }
  if (pathname === "/health" && (req.method === "GET" || req.method === "HEAD")) {
    sendJson(res, 200, { status: "ok" });
    return;
  }
  if (pathname === "/api/auth" || pathname.startsWith("/api/auth/")) {
    const peer = req.socket.remoteAddress;
    if (peer) req.headers[CLIENT_IP_HEADER] = peer.startsWith("::ffff:") ? peer.slice(7) : peer;
    else delete req.headers[CLIENT_IP_HEADER];
    authHandler(req, res).catch((error: unknown) => {
      console.error("[auth-server] unhandled error:", error);
      if (!res.headersSent) sendJson(res, 500, { message: "internal error" });
      else res.destroy();
    });
    return;
  }
  sendJson(res, 404, { message: "not found" });
});

server.listen(config.port, config.host, () => {
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  console.log(
    `[auth-server] listening on http://${config.host}:${port} (auth at /api/auth, baseURL ${config.baseURL}, ` +
      `JWT ${config.jwtAlg}${config.jwtRotationInterval ? `, key rotation every ${config.jwtRotationInterval}s` : ""}, ` +
      `database ${config.database.display})`,
  );
  const providers = providerSummary(config);
  if (providers) console.log(`[auth-server] OAuth sign-in: ${providers}`);
  if (config.social.oidc && betterAuthBefore(1, 7)) {
    console.warn(
      `[auth-server] WARNING: better-auth ${betterAuthVersion()} decodes the OpenID provider's ID token without ` +
        "verifying it (requireIdTokenVerification needs 1.7)",
    );
  }
  if (config.secondaryStorage) {
    console.log(`[auth-server] sessions in secondary storage: ${describeSecondaryStorage(config.secondaryStorage)}`);
  }
});

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`[auth-server] ${signal} received, shutting down`);
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Requests still in flight get a few seconds; then the remaining connections are cut.
  const timer = setTimeout(() => server.closeAllConnections(), 5000);
  await closed;
  clearTimeout(timer);
  await database.close();
  process.exit(0);
}

process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
