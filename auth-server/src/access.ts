/**
 * Access control for the admin plugin from the file the Python API reads too (ACCESS_CONTROL_FILE),
 * plus ADMIN_USER_IDS, so both servers decide every permission the same way.
 *
 *   {"statements": {resource: [action, ...]}, "roles": {role: {resource: [action, ...]}}, "organization": {...}}
 *
 * - statements are merged into Better-Auth's defaultStatements, resource by resource (union of actions);
 * - a role named in the file replaces the default role of that name; `admin` and `user` keep
 *   Better-Auth's defaults (adminAc, userAc) unless the file names them;
 * - every action a role grants must be in the merged statements (Better-Auth checks this only in types);
 * - "organization" is left to the organization plugin's configuration.
 * The rules and messages match backend/app/services/access/loader.py; a bad file stops the server.
 */
import { readFileSync } from "node:fs";
import { createAccessControl, type Role } from "better-auth/plugins/access";
import { adminAc, defaultStatements, userAc } from "better-auth/plugins/admin/access";

import { type Config, ConfigError } from "./config.ts";

type Statements = Record<string, string[]>;

const TOP_LEVEL_KEYS = ["statements", "roles", "organization"];

export interface AdminAccessOptions {
  ac?: ReturnType<typeof createAccessControl>;
  roles?: Record<string, Role>;
  adminUserIds?: string[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function name(value: unknown, where: string, what: string): string {
  if (typeof value !== "string" || value === "" || value !== value.trim()) {
    throw new ConfigError(`${where}: ${what} ${JSON.stringify(value)} must be a non-empty string`);
  }
  return value;
}

function actions(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) throw new ConfigError(`${where}: must be a list of action names`);
  return value.map((action) => name(action, where, "action"));
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new ConfigError(`${where}: must be a JSON object`);
  return value;
}

/** Null-prototype maps: a resource or role called "constructor" must not find Object's. */
function plain<T>(entries: [string, T][]): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, Object.fromEntries(entries));
}

export function parseAccessFile(document: unknown): { statements: Statements; roles: Record<string, Statements> } {
  const data = object(document, "the file");
  const unknownKeys = Object.keys(data).filter((key) => !TOP_LEVEL_KEYS.includes(key)).sort();
  if (unknownKeys.length) {
    throw new ConfigError(`unknown key(s) ${unknownKeys.join(", ")}; expected ${TOP_LEVEL_KEYS.join(", ")}`);
  }
  const statements: Statements = plain(Object.entries(defaultStatements).map(([r, a]) => [r, [...a]]));
  for (const [resource, listed] of Object.entries(object(data.statements ?? {}, "statements"))) {
    name(resource, "statements", "resource");
    const known = (statements[resource] ??= []);
    for (const action of actions(listed, `statements.${resource}`)) if (!known.includes(action)) known.push(action);
  }
  const declared = object(data.roles ?? {}, "roles");
  const roles: Record<string, Statements> = plain([]);
  for (const [role, grants] of Object.entries(declared)) {
    name(role, "roles", "role");
    if (role.includes(",")) throw new ConfigError(`roles.${role}: a role name cannot contain ','`);
    const built: Statements = plain([]);
    for (const [resource, listed] of Object.entries(object(grants, `roles.${role}`))) {
      const where = `roles.${role}.${resource}`;
      if (!(resource in statements)) throw new ConfigError(`${where}: unknown resource (not in the statements)`);
      const granted = actions(listed, where);
      const unknown = granted.filter((action) => !statements[resource].includes(action));
      if (unknown.length) throw new ConfigError(`${where}: unknown action(s) ${unknown.join(", ")} (not in the statements)`);
      built[resource] = granted;
    }
    roles[role] = built;
  }
  if (data.organization !== undefined && data.organization !== null) object(data.organization, "organization");
  return { statements, roles };
}

/** `admin({ ...adminAccessOptions(config) })`: nothing when neither setting is set (Better-Auth's defaults). */
export function adminAccessOptions(config: Pick<Config, "accessControlFile" | "adminUserIds">): AdminAccessOptions {
  const { adminUserIds } = config;
  const options: AdminAccessOptions = adminUserIds.length ? { adminUserIds: [...adminUserIds] } : {};
  const file = config.accessControlFile;
  if (!file) return options;
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`ACCESS_CONTROL_FILE: ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let parsed: ReturnType<typeof parseAccessFile>;
  try {
    parsed = parseAccessFile(document);
  } catch (error) {
    throw new ConfigError(`ACCESS_CONTROL_FILE: ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const ac = createAccessControl(parsed.statements);
  const roles: Record<string, Role> = plain<Role>([
    ["admin", adminAc],
    ["user", userAc],
  ]);
  for (const [role, grants] of Object.entries(parsed.roles)) roles[role] = ac.newRole(grants);
  return { ...options, ac, roles };
}
