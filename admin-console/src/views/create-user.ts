/** Create a user (POST /api/v1/users, Better-Auth's create-user). */
import { can, type Context } from "../context";
import { field, h, replace } from "../dom";
import { href, navigate } from "../router";
import { busy, empty, heading, notify } from "../ui";

export function createUserView(context: Context, main: HTMLElement): void {
  const back = h("p", {}, h("a", { href: href("users") }, "← All users"));
  if (!can(context, "user", "create")) {
    replace(main, back, heading("Create user"), empty("Your roles do not include creating users (user: create)."));
    return;
  }
  const name = h("input", { type: "text", name: "name", required: true, maxlength: "255", autocomplete: "off" });
  const email = h("input", { type: "email", name: "email", required: true, autocomplete: "off" });
  const password = h("input", { type: "password", name: "password", autocomplete: "new-password" });
  const verified = h("input", { type: "checkbox", name: "emailVerified" });
  const settingRoles = can(context, "user", "set-role");
  const boxes = settingRoles
    ? context.config.roles.map((role) => h("input", { type: "checkbox", name: "role", value: role, checked: role === "user" }))
    : [];
  const errors = h("div");
  const submit = h("button", { type: "submit", className: "primary" }, "Create user");
  const form = h(
    "form",
    { className: "stack", "aria-labelledby": "create-title" },
    field("Name", name),
    field("Email", email),
    field("Password", password, "Optional: without one the user signs in another way (social, magic link) until a password is set."),
    h("label", { className: "check" }, verified, " Email already verified"),
    settingRoles
      ? h("fieldset", {}, h("legend", {}, "Roles"), boxes.map((box) => h("label", { className: "check" }, box, ` ${box.value}`)))
      : null,
    errors,
    submit,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const roles = boxes.filter((box) => box.checked).map((box) => box.value);
    void busy(submit, errors, async () => {
      const user = await context.api.run((client) =>
        client.POST("/api/v1/users", {
          body: {
            name: name.value.trim(),
            email: email.value.trim(),
            password: password.value || null,
            role: roles.length ? roles : null,
            data: verified.checked ? { emailVerified: true } : null,
          },
        }),
      );
      notify(`Created ${user.email}.`);
      navigate(href(`users/${encodeURIComponent(user.id)}`));
    });
  });
  const title = heading("Create user");
  title.id = "create-title";
  replace(main, back, title, form);
}
