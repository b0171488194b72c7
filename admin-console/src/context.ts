/** What every screen gets: the settings, the session, the API, and what the admin may do. */
import type { Api, UserRead } from "./api";
import type { Session } from "./auth";
import type { ConsoleConfig } from "./config";

export interface Context {
  config: ConsoleConfig;
  session: Session;
  api: Api;
  me: UserRead;
  /** GET /api/v1/auth/permissions: action names per resource. */
  permissions: Record<string, string[]>;
  /** Whether the admin holds one of ADMIN_ROLES, which GET /api/v1/audit-events wants. */
  canReadAudit: boolean;
}

/** Whether the admin's roles grant `resource: [action]`: which controls a screen shows. The
 * API still decides; its 403 is shown in words when the two ever disagree. */
export function can(context: Context, resource: string, action: string): boolean {
  return context.permissions[resource]?.includes(action) ?? false;
}

/** Roles are stored comma-joined ("admin,support"). */
export function splitRoles(role: string | null | undefined): string[] {
  return (role ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
}
