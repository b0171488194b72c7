/**
 * Organizations the admin belongs to, their members and roles; change a member's role or
 * remove a member. The organization plugin's rules apply (the API enforces them; the controls
 * follow them): only an owner changes or removes an owner, or makes one; an organization keeps
 * at least one owner. Members without a managing role see the list only.
 */
import type { components } from "fastapi-better-auth-client";

import { can, splitRoles, type Context } from "../context";
import { field, h, replace, time } from "../dom";
import { href, intParam, navigate, type Route } from "../router";
import { busy, card, empty, errorBox, heading, loading, notify, openDialog, pagination, table } from "../ui";

type OrganizationRead = components["schemas"]["OrganizationRead"];
type MemberWithUserRead = components["schemas"]["MemberWithUserRead"];

const OWNER = "owner";
const MANAGING_ROLES = new Set([OWNER, "admin"]);
const PAGE_SIZE = 20;

export async function organizationsView(context: Context, main: HTMLElement): Promise<void> {
  replace(main, heading("Organizations"), loading("your organizations"));
  try {
    const { organizations } = await context.api.run((client) => client.GET("/api/v1/organizations"));
    const rows = organizations.map((organization) =>
      h(
        "tr",
        {},
        h("td", {}, h("a", { href: href(`organizations/${encodeURIComponent(organization.id)}`) }, organization.name)),
        h("td", {}, organization.slug),
        h("td", {}, splitRoles(organization.role).join(", ")),
        h("td", {}, time(organization.createdAt)),
      ),
    );
    replace(
      main,
      heading("Organizations"),
      h("p", {}, "The organizations you are a member of, with your role in each."),
      rows.length ? table("Your organizations", ["Name", "Slug", "Your role", "Created"], rows) : empty("You are not a member of any organization."),
    );
  } catch (error) {
    replace(main, heading("Organizations"), errorBox(error, "The organizations did not load"));
  }
}

export async function organizationView(context: Context, route: Route, main: HTMLElement): Promise<void> {
  const organizationId = route.segments[1] ?? "";
  const back = h("p", {}, h("a", { href: href("organizations") }, "← All organizations"));
  const search = route.query.get("search") ?? "";
  const offset = intParam(route.query, "offset", 0);
  replace(main, back, heading("Organization"), loading("the members"));
  const path = { params: { path: { organizationId } } };
  let organization: OrganizationRead;
  let page: components["schemas"]["MemberPage"];
  try {
    [organization, page] = await Promise.all([
      context.api.run((client) => client.GET("/api/v1/organizations/{organizationId}", path)),
      context.api.run((client) =>
        client.GET("/api/v1/organizations/{organizationId}/members", {
          params: { path: { organizationId }, query: { search: search || undefined, limit: PAGE_SIZE, offset } },
        }),
      ),
    ]);
  } catch (error) {
    replace(main, back, heading("Organization"), errorBox(error, "The organization did not load"));
    return;
  }
  const mine = splitRoles(organization.role);
  const pageHref = (next: number): string => href(`organizations/${encodeURIComponent(organizationId)}`, { search, offset: next || null });
  const searchInput = h("input", { type: "search", name: "search", value: search, autocomplete: "off" });
  const form = h(
    "form",
    { role: "search", className: "filters", "aria-label": "Find members" },
    field("Search members", searchInput),
    h("div", { className: "field actions" }, h("button", { type: "submit", className: "primary" }, "Search")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(href(`organizations/${encodeURIComponent(organizationId)}`, { search: searchInput.value.trim() }));
  });
  const manages = mine.some((role) => MANAGING_ROLES.has(role)) || mine.some((role) => !context.config.organizationRoles.includes(role));
  const rows = page.members.map((member) => memberRow(context, organization, member, mine, manages));
  const headers = ["Name", "Email", "Role", "Joined", ...(manages ? ["Change role", "Remove"] : [])];
  replace(
    main,
    back,
    heading(organization.name),
    h("p", { className: "subtitle" }, `Slug ${organization.slug} · your role: ${mine.join(", ")}`),
    card(
      "Members",
      form,
      rows.length ? table(`Members of ${organization.name}`, headers, rows) : empty(search ? "No member matches this search." : "No members."),
      pagination(page.total, PAGE_SIZE, offset, pageHref),
    ),
  );
}

function memberRow(context: Context, organization: OrganizationRead, member: MemberWithUserRead, mine: string[], manages: boolean): HTMLTableRowElement {
  const roles = splitRoles(member.role);
  const name = member.user.name || "(no name)";
  const nameCell = can(context, "user", "get") ? h("a", { href: href(`users/${encodeURIComponent(member.userId)}`) }, name) : name;
  const cells = [h("td", {}, nameCell), h("td", {}, member.user.email), h("td", {}, roles.join(", ")), h("td", {}, time(member.createdAt))];
  if (!manages) return h("tr", {}, cells);
  const iAmOwner = mine.includes(OWNER);
  // Only an owner may change or remove an owner.
  if (roles.includes(OWNER) && !iAmOwner) {
    return h("tr", {}, cells, h("td", { colspan: "2" }, h("span", { className: "muted" }, "Only an owner can change an owner")));
  }
  return h("tr", {}, cells, h("td", {}, roleForm(context, organization, member, iAmOwner)), h("td", {}, removeButton(context, organization, member)));
}

function roleForm(context: Context, organization: OrganizationRead, member: MemberWithUserRead, iAmOwner: boolean): HTMLFormElement {
  const current = splitRoles(member.role);
  const offered = context.config.organizationRoles.filter((role) => role !== OWNER || iAmOwner);
  const names = [...new Set([...offered, ...current])];
  const select = h(
    "select",
    { name: "role", "aria-label": `Role of ${member.user.email}` },
    names.map((role) => h("option", { value: role, selected: current[0] === role }, role)),
  );
  const errors = h("div");
  const save = h("button", { type: "submit", className: "secondary small" }, "Save");
  const form = h("form", { className: "inline" }, select, save, errors);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void busy(save, errors, async () => {
      await context.api.run((client) =>
        client.PATCH("/api/v1/organizations/{organizationId}/members/{memberId}", {
          params: { path: { organizationId: organization.id, memberId: member.id } },
          body: { role: select.value },
        }),
      );
      notify(`${member.user.email} is now ${select.value} in ${organization.name}.`);
      navigate(window.location.hash);
    });
  });
  return form;
}

function removeButton(context: Context, organization: OrganizationRead, member: MemberWithUserRead): HTMLButtonElement {
  const button = h("button", { type: "button", className: "danger small", "aria-label": `Remove ${member.user.email}` }, "Remove…");
  button.addEventListener("click", () =>
    openDialog({
      title: `Remove ${member.user.email} from ${organization.name}?`,
      body: [h("p", {}, "They lose access to the organization at once. Their user account stays.")],
      confirm: "Remove member",
      danger: true,
      action: async () => {
        await context.api.run((client) =>
          client.DELETE("/api/v1/organizations/{organizationId}/members/{memberId}", {
            params: { path: { organizationId: organization.id, memberId: member.id } },
          }),
        );
        notify(`Removed ${member.user.email} from ${organization.name}.`);
        navigate(window.location.hash);
      },
    }),
  );
  return button;
}
