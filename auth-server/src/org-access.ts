/**
 * Access control for the organization plugin from the "organization" section of the file the
 * Python API reads too (ACCESS_CONTROL_FILE), so both servers decide member permissions the same way:
 *
 *   {"organization": {"statements": {resource: [action, ...]}, "roles": {role: {resource: [action, ...]}}}}
 *
 * - statements are merged into the plugin's defaultStatements, resource by resource (union of actions);
 * - the default roles owner, admin and member are kept unless the file names them (the plugin itself
 *   would drop them as soon as `roles` is given);
 * - every action a role grants must be in the merged statements.
 * The rules and messages match backend/app/services/organizations/access.py; a bad file stops the server.
 *
 * ORGANIZATION_DYNAMIC_ROLES=true adds `dynamicAccessControl: { enabled: true }`: roles created at run
 * time per organization (/organization/create-role, ...) in the organizationRole table, each merged
 * with the static role of the same name. Better-Auth honours them only when it is given an `ac`
 * (without one it falls back to the static roles and create-role answers MISSING_AC_INSTANCE), so
 * the defaults are then passed explicitly even without a file.
 */
import { readFileSync } from "node:fs";
import { createAccessControl, type Role } from "better-auth/plugins/access";
import { adminAc, defaultStatements, memberAc, ownerAc } from "better-auth/plugins/organization/access";

import { type Config, ConfigError } from "./config.ts";

type Statements = Record<string, string[]>;

const SECTION_KEYS = ["statements", "roles"];

export interface OrganizationAccessOptions {
  ac?: ReturnType<typeof createAccessControl>;
  roles?: Record<string, Role>;
  dynamicAccessControl?: { enabled: boolean };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (!isObject(value)) throw new ConfigError(`${where}: must be a JSON object`);
  return value;
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

function plain<T>(entries: [string, T][]): Record<string, T> {
  return Object.assign(Object.create(null) as Record<string, T>, Object.fromEntries(entries));
}

export function parseOrganizationSection(section: unknown): { statements: Statements; roles: Record<string, Statements> } {
  const data = object(section, "organization");
  const unknownKeys = Object.keys(data).filter((key) => !SECTION_KEYS.includes(key)).sort();
  if (unknownKeys.length) {
    throw new ConfigError(`organization: unknown key(s) ${unknownKeys.join(", ")}; expected ${SECTION_KEYS.join(", ")}`);
  }
  const statements: Statements = plain(Object.entries(defaultStatements).map(([r, a]) => [r, [...a]]));
  for (const [resource, listed] of Object.entries(object(data.statements ?? {}, "organization.statements"))) {
    name(resource, "organization.statements", "resource");
    const known = (statements[resource] ??= []);
    for (const action of actions(listed, `organization.statements.${resource}`)) if (!known.includes(action)) known.push(action);
  }
  const roles: Record<string, Statements> = plain([]);
  for (const [role, grants] of Object.entries(object(data.roles ?? {}, "organization.roles"))) {
    name(role, "organization.roles", "role");
    if (role.includes(",")) throw new ConfigError(`organization.roles.${role}: a role name cannot contain ','`);
    const built: Statements = plain([]);
    for (const [resource, listed] of Object.entries(object(grants, `organization.roles.${role}`))) {
      const where = `organization.roles.${role}.${resource}`;
      if (!(resource in statements)) throw new ConfigError(`${where}: unknown resource (not in the statements)`);
      const granted = actions(listed, where);
      const unknown = granted.filter((action) => !statements[resource].includes(action));
      if (unknown.length) throw new ConfigError(`${where}: unknown action(s) ${unknown.join(", ")} (not in the statements)`);
      built[resource] = granted;
    }
    roles[role] = built;
  }
  return { statements, roles };
}

/** The file's "organization" section; undefined without a file or without that section. */
function readSection(file: string | undefined): unknown {
  if (!file) return undefined;
  let section: unknown;
  try {
    section = (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>)?.organization;
  } catch (error) {
    throw new ConfigError(`ACCESS_CONTROL_FILE: ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return section === null ? undefined : section;
}

/**
 * `organization({ ...organizationAccessOptions(config) })`: nothing without an "organization" section
 * (Better-Auth's defaults), unless dynamic roles are on (then `ac` and the roles, defaults or not).
 */
export function organizationAccessOptions(
  config: Pick<Config, "accessControlFile" | "organizationDynamicRoles">,
): OrganizationAccessOptions {
  const file = config.accessControlFile;
  const section = readSection(file);
  const dynamic = config.organizationDynamicRoles ? { dynamicAccessControl: { enabled: true } } : {};
  if (section === undefined && !config.organizationDynamicRoles) return {};
  let parsed: ReturnType<typeof parseOrganizationSection>;
  try {
    parsed = parseOrganizationSection(section ?? {});
  } catch (error) {
    throw new ConfigError(`ACCESS_CONTROL_FILE: ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const ac = createAccessControl(parsed.statements);
  const roles: Record<string, Role> = plain<Role>([
    ["owner", ownerAc],
    ["admin", adminAc],
    ["member", memberAc],
  ]);
  for (const [role, grants] of Object.entries(parsed.roles)) roles[role] = ac.newRole(grants);
  return { ac, roles, ...dynamic };
}
