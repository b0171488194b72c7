/**
 * Organizations the admin belongs to, their members and roles; change a member's role or
 * remove a member. Whether those controls show is the API's answer to
 * `POST /organizations/{id}/has-permission` (`member: update`, `member: delete`), so static,
 * custom and dynamic roles are all decided as Better-Auth decides them, never guessed from role
 * names. The organization plugin's owner rules apply on top (the API enforces them; the controls
 * follow them): only an owner changes or removes an owner, or makes one; an organization keeps
 * at least one owner.
 */
import type { components } from "fastapi-better-auth-client";

import { can, splitRoles, type Context } from "../context";
import { field, h, replace, time } from "../dom";
import { href, intParam, navigate, type Route } from "../router";
import { busy, card, empty, errorBox, heading, loading, notify, openDialog, pagination, table } from "../ui";

type OrganizationRead = components["schemas"]["OrganizationRead"];
type MemberWithUserRead = components["schemas"]["MemberWithUserRead"];
type PermissionResult = components["schemas"]["PermissionResult"];

const OWNER = "owner";
const PAGE_SIZE = 20;

/** What the signed-in admin may do to this organization's members, as the API answered. */
interface MemberControls {
  update: boolean;
  delete: boolean;
  iAmOwner: boolean;
  /** The role names the role picker offers (see `roleChoices`). */
  roles: string[];
}

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
  const allowed = (action: string): Promise<PermissionResult> =>
    context.api.run((client) =>
      client.POST("/api/v1/organizations/{organizationId}/has-permission", { ...path, body: { permissions: { member: [action] } } }),
    );
  let organization: OrganizationRead;
  let page: components["schemas"]["MemberPage"];
  let mayUpdate: PermissionResult;
  let mayDelete: PermissionResult;
  try {
    // One question per permission set: Better-Auth grants a set only when one role grants all of it.
    [organization, page, mayUpdate, mayDelete] = await Promise.all([
      context.api.run((client) => client.GET("/api/v1/organizations/{organizationId}", path)),
      context.api.run((client) =>
        client.GET("/api/v1/organizations/{organizationId}/members", {
          params: { path: { organizationId }, query: { search: search || undefined, limit: PAGE_SIZE, offset } },
        }),
      ),
      allowed("update"),
      allowed("delete"),
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
  const iAmOwner = mine.includes(OWNER);
  const controls: MemberControls = {
    update: mayUpdate.success,
    delete: mayDelete.success,
    iAmOwner,
    roles: roleChoices(context.config.organizationRoles, [mine, ...page.members.map((member) => splitRoles(member.role))], iAmOwner),
  };
  const rows = page.members.map((member) => memberRow(context, organization, member, controls));
  const headers = ["Name", "Email", "Role", "Joined", ...(controls.update ? ["Change role"] : []), ...(controls.delete ? ["Remove"] : [])];
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

/**
 * The roles the picker offers: the static ones update-member-role accepts (/admin/config.json;
 * `owner` to owners only) and the other names held in this organization (its dynamic roles in
 * use, as far as the admin's membership and the members shown tell), so that a member holding a
 * dynamic role sees it as their current value. The API still decides which names it accepts.
 */
function roleChoices(staticRoles: string[], held: string[][], iAmOwner: boolean): string[] {
  const offered = staticRoles.filter((role) => role !== OWNER || iAmOwner);
  const dynamic = held.flat().filter((role) => !staticRoles.includes(role));
  return [...new Set([...offered, ...dynamic.sort()])];
}

function memberRow(context: Context, organization: OrganizationRead, member: MemberWithUserRead, controls: MemberControls): HTMLTableRowElement {
  const roles = splitRoles(member.role);
  const name = member.user.name || "(no name)";
  const nameCell = can(context, "user", "get") ? h("a", { href: href(`users/${encodeURIComponent(member.userId)}`) }, name) : name;
  const cells = [h("td", {}, nameCell), h("td", {}, member.user.email), h("td", {}, roles.join(", ")), h("td", {}, time(member.createdAt))];
  const columns = Number(controls.update) + Number(controls.delete);
  if (columns === 0) return h("tr", {}, cells);
  // Only an owner may change or remove an owner.
  if (roles.includes(OWNER) && !controls.iAmOwner) {
    return h("tr", {}, cells, h("td", { colspan: String(columns) }, h("span", { className: "muted" }, "Only an owner can change an owner")));
  }
  return h(
    "tr",
    {},
    cells,
    controls.update && h("td", {}, roleForm(context, organization, member, controls.roles)),
    controls.delete && h("td", {}, removeButton(context, organization, member)),
  );
}

function roleForm(context: Context, organization: OrganizationRead, member: MemberWithUserRead, offered: string[]): HTMLFormElement {
  const current = splitRoles(member.role);
  // Whatever the member holds is listed, so the value shown selected is always theirs.
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
