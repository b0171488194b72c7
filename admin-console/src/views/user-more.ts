/** One user, continued: sessions (revoke one or all), set password, remove. */
import type { components } from "fastapi-better-auth-client";

import type { UserRead } from "../api";
import { can, type Context } from "../context";
import { field, h, time } from "../dom";
import { href, navigate } from "../router";
import { card, empty, errorBox, notify, openDialog, table } from "../ui";

type SessionRead = components["schemas"]["SessionRead"];

export async function sessionsSection(context: Context, user: UserRead, reload: (message: string) => void): Promise<HTMLElement | null> {
  if (!can(context, "session", "list")) return null;
  let sessions: SessionRead[];
  try {
    const answer = await context.api.run((client) =>
      client.GET("/api/v1/users/{userId}/sessions", { params: { path: { userId: user.id } } }),
    );
    sessions = answer.sessions;
  } catch (error) {
    return card("Sessions", errorBox(error, "The sessions did not load"));
  }
  const revoking = can(context, "session", "revoke");
  const revokeOne = (session: SessionRead): HTMLButtonElement => {
    const button = h("button", { type: "button", className: "secondary small", "aria-label": `Revoke session started ${new Date(session.createdAt).toLocaleString()}` }, "Revoke");
    button.addEventListener("click", () =>
      openDialog({
        title: "Revoke this session?",
        body: [h("p", {}, `The device using it (${session.userAgent || "unknown device"}) is signed out at once.`)],
        confirm: "Revoke session",
        danger: true,
        action: async () => {
          await context.api.run((client) =>
            client.DELETE("/api/v1/users/{userId}/sessions/{sessionId}", { params: { path: { userId: user.id, sessionId: session.id } } }),
          );
          reload("Session revoked.");
        },
      }),
    );
    return button;
  };
  const rows = sessions.map((session) =>
    h(
      "tr",
      {},
      h("td", {}, time(session.createdAt), session.current ? h("span", { className: "badge" }, "This console") : null),
      h("td", {}, time(session.expiresAt)),
      h("td", {}, session.ipAddress || "—"),
      h("td", { className: "wrap" }, session.userAgent || "—"),
      h("td", {}, session.impersonatedBy ? h("span", { className: "badge warning" }, `Impersonated by ${session.impersonatedBy}`) : "—"),
      revoking ? h("td", {}, revokeOne(session)) : null,
    ),
  );
  let revokeAll: HTMLButtonElement | null = null;
  if (revoking && sessions.length > 0) {
    revokeAll = h("button", { type: "button", className: "danger" }, "Revoke all sessions…");
    revokeAll.addEventListener("click", () =>
      openDialog({
        title: `Revoke all ${sessions.length} sessions of ${user.email}?`,
        body: [h("p", {}, "Every device of this user is signed out at once. Their JWTs stop working at the API too.")],
        confirm: "Revoke all sessions",
        danger: true,
        action: async () => {
          await context.api.run((client) => client.DELETE("/api/v1/users/{userId}/sessions", { params: { path: { userId: user.id } } }));
          reload("All sessions revoked.");
        },
      }),
    );
  }
  const headers = ["Started", "Expires", "IP address", "Device", "Impersonation", ...(revoking ? ["Action"] : [])];
  return card(
    "Sessions",
    sessions.length ? table(`Sessions of ${user.email}`, headers, rows) : empty("No active sessions."),
    revokeAll,
  );
}

export function passwordSection(context: Context, user: UserRead, reload: (message: string) => void): HTMLElement | null {
  if (!can(context, "user", "set-password")) return null;
  const open = h("button", { type: "button", className: "secondary" }, "Set password…");
  open.addEventListener("click", () => {
    const password = h("input", { type: "password", name: "newPassword", required: true, autocomplete: "new-password" });
    openDialog({
      title: `Set a new password for ${user.email}`,
      body: [field("New password", password, "The auth server's rules apply (length). The user is not told; their sessions stay.")],
      confirm: "Set password",
      action: async () => {
        await context.api.run((client) =>
          client.PUT("/api/v1/users/{userId}/password", { params: { path: { userId: user.id } }, body: { newPassword: password.value } }),
        );
        reload("Password set.");
      },
    });
  });
  return card("Password", h("p", {}, "Set a password the user can sign in with."), open);
}

export function dangerSection(context: Context, user: UserRead): HTMLElement | null {
  if (!can(context, "user", "delete")) return null;
  const open = h("button", { type: "button", className: "danger" }, "Remove user…");
  open.addEventListener("click", () => {
    const typed = h("input", { type: "text", name: "confirmEmail", required: true, autocomplete: "off" });
    openDialog({
      title: `Remove ${user.email}?`,
      body: [
        h("p", {}, "The user, their sessions and their linked accounts are deleted. This cannot be undone."),
        field("Type the user's email to confirm", typed),
      ],
      confirm: "Remove user",
      danger: true,
      action: async () => {
        if (typed.value.trim().toLowerCase() !== user.email.toLowerCase()) {
          throw new Error("The email typed does not match this user's.");
        }
        await context.api.run((client) => client.DELETE("/api/v1/users/{userId}", { params: { path: { userId: user.id } } }));
        notify(`Removed ${user.email}.`);
        navigate(href("users"));
      },
    });
  });
  return card("Remove", h("p", {}, "Delete this user for good."), open);
}
