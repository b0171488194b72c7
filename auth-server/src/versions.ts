/**
 * The installed Better-Auth packages' versions (this folder's node_modules: the pinned ones, or another line's
 * under `make test-matrix`, see README), and what differs between the lines that this server must know.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { PACKAGE_DIR } from "./config.ts";

export function installedVersion(name: string): string {
  const manifest = path.join(PACKAGE_DIR, "node_modules", ...name.split("/"), "package.json");
  return String(JSON.parse(readFileSync(manifest, "utf8")).version);
}

export function betterAuthVersion(): string {
  return installedVersion("better-auth");
}

/** Whether the installed better-auth is older than `major.minor`. */
export function betterAuthBefore(major: number, minor: number): boolean {
  const [installedMajor, installedMinor] = betterAuthVersion().split(".").map(Number);
  return installedMajor < major || (installedMajor === major && installedMinor < minor);
}

/**
 * Where the genericOAuth plugin's provider sends the browser back (under /api/auth): 1.7 uses the core
 * `/callback/<id>`, 1.6 its own `/oauth2/callback/<id>`.
 */
export function genericOAuthCallbackPath(): string {
  return betterAuthBefore(1, 7) ? "/oauth2/callback" : "/callback";
}
