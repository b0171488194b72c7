/** One user: profile, roles, ban and unban, then sessions and the rest (user-more.ts). Every
 * change is followed by a fresh read from the API: nothing is kept past what it answers. */
import type { UserRead } from "../api";
import { can, splitRoles, type Context } from "../context";
import { field, h, replace, time, type Child } from "../dom";
import { href, navigate, type Route } from "../router";
import { busy, card, errorBox, heading, loading, notify, openDialog } from "../ui";
import { dangerSection, passwordSection, sessionsSection } from "./user-more";

const BAN_DURATIONS: [string, string][] = [
  ["", "Never (until unbanned)"],
  ["3600", "1 hour"],
  ["86400", "1 day"],
  ["604800", "7 days"],
  ["2592000", "30 days"],
  ["7776000", "90 days"],
];

/** Linked accounts, when the API lists them (GET /users/{id} may carry `accounts`). */
interface LinkedAccount {
  providerId?: string;
  accountId?: string;
  createdAt?: string;
}

export async function userView(context: Context, route: Route, main: HTMLElement): Promise<void> {
  const userId = route.segments[1] ?? "";
  replace(main, h("p", {}, h("a", { href: href("users") }, "← All users")), heading("User"), loading("the user"));
  let user: UserRead;
  try {
    user = await context.api.run((client) => client.GET("/api/v1/users/{userId}", { params: { path: { userId } } }));
  } catch (error) {
    replace(main, h("p", {}, h("a", { href: href("users") }, "← All users")), heading("User"), errorBox(error, "The user did not load"));
    return;
  }
  const reload = (message: string): void => {
    notify(message);
    navigate(window.location.hash);
  };
  replace(
    main,
    h("p", {}, h("a", { href: href("users") }, "← All users")),
    heading(user.name || user.email),
    h("p", { className: "subtitle" }, user.email, user.banned ? h("span", { className: "badge danger" }, "Banned") : null),
    profileSection(user),
    rolesSection(context, user, reload),
    banSection(context, user, reload),
    await sessionsSection(context, user, reload),
    passwordSection(context, user, reload),
    dangerSection(context, user),
  );
}

function profileSection(user: UserRead): HTMLElement {
  const row = (term: string, value: Child): HTMLElement[] => [h("dt", {}, term), h("dd", {}, value)];
  const accounts = (user as UserRead & { accounts?: LinkedAccount[] }).accounts;
  return card(
    "Profile",
    h(
      "dl",
      { className: "profile" },
      row("Name", user.name || "—"),
      row("Email", user.email),
      row("Email verified", user.emailVerified ? "Yes" : "No"),
      row("Roles", splitRoles(user.role).join(", ") || "—"),
      row("Created", time(user.createdAt)),
      row("Updated", time(user.updatedAt)),
      row("User id", h("code", {}, user.id)),
      Array.isArray(accounts)
        ? row(
            "Linked accounts",
            accounts.length
              ? h("ul", {}, accounts.map((account) => h("li", {}, `${account.providerId ?? "?"}`, account.accountId ? ` (${account.accountId})` : null)))
              : "None",
          )
        : null,
    ),
  );
}

function rolesSection(context: Context, user: UserRead, reload: (message: string) => void): HTMLElement {
  const held = splitRoles(user.role);
  if (!can(context, "user", "set-role")) {
    return card("Roles", h("p", {}, held.join(", ") || "No role"));
  }
  const names = [...new Set([...context.config.roles, ...held])];
  const boxes = names.map((name) => h("input", { type: "checkbox", name: "role", value: name, checked: held.includes(name) }));
  const errors = h("div");
  const save = h("button", { type: "submit", className: "primary" }, "Save roles");
  const form = h(
    "form",
    {},
    h(
      "fieldset",
      {},
      h("legend", {}, "Roles of this user (one or several)"),
      boxes.map((box) => h("label", { className: "check" }, box, ` ${box.value}`)),
    ),
    errors,
    save,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const role = boxes.filter((box) => box.checked).map((box) => box.value);
    void busy(save, errors, async () => {
      await context.api.run((client) =>
        client.PUT("/api/v1/users/{userId}/role", { params: { path: { userId: user.id } }, body: { role } }),
      );
      reload(`Roles saved: ${role.join(", ") || "none"}.`);
    });
  });
  return card("Roles", form);
}

function banSection(context: Context, user: UserRead, reload: (message: string) => void): HTMLElement {
  const allowed = can(context, "user", "ban");
  const errors = h("div");
  if (user.banned) {
    const unban = allowed ? h("button", { type: "button", className: "secondary" }, "Unban") : null;
    unban?.addEventListener("click", () => {
      void busy(unban, errors, async () => {
        await context.api.run((client) => client.POST("/api/v1/users/{userId}/unban", { params: { path: { userId: user.id } } }));
        reload(`${user.email} is no longer banned.`);
      });
    });
    return card(
      "Ban",
      h(
        "dl",
        { className: "profile" },
        h("dt", {}, "Banned"),
        h("dd", {}, "Yes"),
        h("dt", {}, "Reason"),
        h("dd", {}, user.banReason || "No reason given"),
        h("dt", {}, "Expires"),
        h("dd", {}, user.banExpires ? time(user.banExpires) : "Never"),
      ),
      errors,
      unban,
    );
  }
  if (!allowed) return card("Ban", h("p", {}, "Not banned."));
  const open = h("button", { type: "button", className: "danger" }, "Ban user…");
  open.addEventListener("click", () => {
    const reason = h("input", { type: "text", name: "banReason", maxlength: "1000", autocomplete: "off" });
    const expires = h("select", { name: "banExpiresIn" }, BAN_DURATIONS.map(([value, label]) => h("option", { value }, label)));
    openDialog({
      title: `Ban ${user.email}?`,
      body: [
        h("p", {}, "A ban signs the user out everywhere (all sessions are revoked) and refuses every sign-in and API call until it ends."),
        field("Reason", reason, "Kept with the ban: shown on this page and in the audit log."),
        field("Ban ends", expires),
      ],
      confirm: "Ban user",
      danger: true,
      action: async () => {
        const seconds = Number(expires.value);
        await context.api.run((client) =>
          client.POST("/api/v1/users/{userId}/ban", {
            params: { path: { userId: user.id } },
            body: { banReason: reason.value.trim() || null, banExpiresIn: seconds > 0 ? seconds : null },
          }),
        );
        reload(`${user.email} is banned.`);
      },
    });
  });
  return card("Ban", h("p", {}, "Not banned."), errors, open);
}
