/** The audit log (GET /api/v1/audit-events): filter by actor, target and action; actions taken
 * while impersonating someone are marked with the admin who did it. */
import type { components } from "fastapi-better-auth-client";

import type { Context } from "../context";
import { field, h, replace, time } from "../dom";
import { href, intParam, navigate, type Route } from "../router";
import { empty, errorBox, heading, loading, pagination, table } from "../ui";

type AuditEventRead = components["schemas"]["AuditEventRead"];

const PAGE_SIZE = 25;
// The actions the API records (app/services): offered as suggestions, any text is accepted.
const ACTIONS = [
  "user.create",
  "user.update",
  "user.role.set",
  "user.ban",
  "user.unban",
  "user.password.set",
  "user.remove",
  "session.revoke",
  "session.revoke_all",
  "organization.member.role.set",
  "organization.member.remove",
];

export async function auditView(context: Context, route: Route, main: HTMLElement): Promise<void> {
  const filters = {
    actorId: route.query.get("actorId") ?? "",
    targetId: route.query.get("targetId") ?? "",
    action: route.query.get("action") ?? "",
  };
  const offset = intParam(route.query, "offset", 0);
  const results = h("section", { "aria-label": "Events" }, loading("the audit log"));
  replace(main, heading("Audit log"), filterForm(filters), results);
  try {
    const page = await context.api.run((client) =>
      client.GET("/api/v1/audit-events", {
        params: {
          query: {
            actorId: filters.actorId || undefined,
            targetId: filters.targetId || undefined,
            action: filters.action || undefined,
            limit: PAGE_SIZE,
            offset,
          },
        },
      }),
    );
    const rows = page.events.map(eventRow);
    replace(
      results,
      rows.length
        ? table("Audit events, newest first", ["When", "Action", "Actor", "Target", "Details"], rows)
        : empty("No events match these filters."),
      pagination(page.total, PAGE_SIZE, offset, (next) => href("audit", { ...filters, offset: next || null })),
    );
  } catch (error) {
    replace(results, errorBox(error, "The audit log did not load"));
  }
}

function filterForm(filters: { actorId: string; targetId: string; action: string }): HTMLFormElement {
  const actor = h("input", { type: "text", name: "actorId", value: filters.actorId, autocomplete: "off" });
  const target = h("input", { type: "text", name: "targetId", value: filters.targetId, autocomplete: "off" });
  const action = h("input", { type: "text", name: "action", value: filters.action, list: "audit-actions", autocomplete: "off" });
  const form = h(
    "form",
    { role: "search", className: "filters", "aria-label": "Filter events" },
    field("Actor (user id)", actor),
    field("Target (id)", target),
    field("Action", action),
    h("datalist", { id: "audit-actions" }, ACTIONS.map((name) => h("option", { value: name }))),
    h("div", { className: "field actions" }, h("button", { type: "submit", className: "primary" }, "Filter")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(href("audit", { actorId: actor.value.trim(), targetId: target.value.trim(), action: action.value.trim() }));
  });
  return form;
}

function userLink(id: string | null | undefined): HTMLElement | string {
  if (!id) return "—";
  return h("a", { href: href(`users/${encodeURIComponent(id)}`) }, h("code", {}, id));
}

function eventRow(event: AuditEventRead): HTMLTableRowElement {
  const impersonator = typeof event.detail["impersonatedBy"] === "string" ? event.detail["impersonatedBy"] : null;
  const { impersonatedBy: _ignored, ...rest } = event.detail;
  return h(
    "tr",
    impersonator ? { className: "impersonated" } : {},
    h("td", {}, time(event.createdAt)),
    h("td", {}, h("code", {}, event.action)),
    h(
      "td",
      {},
      userLink(event.actorId),
      impersonator ? h("span", { className: "badge warning" }, "Impersonated by ", h("code", {}, impersonator)) : null,
    ),
    h("td", {}, event.action.startsWith("user.") || event.action.startsWith("session.") ? userLink(event.targetId) : event.targetId ?? "—"),
    h("td", { className: "wrap" }, Object.keys(rest).length ? h("code", { className: "detail" }, JSON.stringify(rest)) : "—"),
  );
}
