/** Shared pieces of every screen: messages, loading and empty states, dialogs, pagination. */
import { ApiError } from "./api";
import { h, replace, uid, type Child } from "./dom";

/** An error in words: the API's (Better-Auth's) message, its code, and field errors. */
export function errorBox(error: unknown, title = "That did not work"): HTMLElement {
  const known = error instanceof ApiError ? error : null;
  const message = known?.message ?? (error instanceof Error ? error.message : String(error));
  return h(
    "div",
    { className: "error", role: "alert" },
    h("p", { className: "error-title" }, title),
    h("p", { className: "error-message" }, message),
    known?.fields.length ? h("ul", {}, known.fields.map((line) => h("li", {}, line))) : null,
    known?.code ? h("p", { className: "error-code" }, `Code: ${known.code} (HTTP ${known.status})`) : null,
  );
}

export function loading(what: string): HTMLElement {
  return h("p", { className: "loading", "aria-busy": "true" }, `Loading ${what}…`);
}

export function empty(text: string): HTMLElement {
  return h("p", { className: "empty" }, text);
}

let keepNotice = false;

/** A message in the page-wide live region (read out by screen readers). It outlives the next
 * screen change (an action that leads elsewhere says what it did there), not the one after. */
export function notify(text: string): void {
  const region = document.getElementById("notice");
  if (region) replace(region, text ? h("p", {}, text) : null);
  keepNotice = text !== "";
}

/** Called by the router on every render: a new screen clears the notice unless it was just
 * given for it; the same screen drawn again (after an action) keeps it until the next one. */
export function screenChanged(moved: boolean): void {
  if (moved && !keepNotice) notify("");
  keepNotice = false;
}

/** A titled part of a screen. */
export function card(title: string, ...children: Child[]): HTMLElement {
  const id = uid("section");
  return h("section", { "aria-labelledby": id, className: "card" }, h("h2", { id }, title), ...children);
}

export function heading(text: string): HTMLHeadingElement {
  return h("h1", { tabindex: "-1" }, text);
}

/** Disable a button while its action runs; show the action's error next to `slot`. */
export async function busy<T>(button: HTMLButtonElement | null, slot: Element, action: () => Promise<T>): Promise<T | undefined> {
  slot.replaceChildren();
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (error) {
    slot.replaceChildren(errorBox(error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

export interface DialogOptions {
  title: string;
  body: Child[];
  confirm: string;
  danger?: boolean;
  /** Runs on confirm; a thrown error is shown in the dialog, which stays open. */
  action: (form: HTMLFormElement) => Promise<void>;
}

/**
 * A modal dialog (the browser's own <dialog>: focus is trapped, Escape cancels). Cancel has
 * the focus first, so Enter on a destructive dialog does nothing harmful.
 */
export function openDialog(options: DialogOptions): HTMLDialogElement {
  const titleId = uid("dialog-title");
  const errors = h("div", { className: "dialog-errors" });
  const cancel = h("button", { type: "button", className: "secondary", autofocus: true }, "Cancel");
  const confirm = h("button", { type: "submit", className: options.danger ? "danger" : "primary" }, options.confirm);
  const form = h(
    "form",
    { method: "dialog" },
    h("h2", { id: titleId }, options.title),
    ...options.body,
    errors,
    h("div", { className: "actions" }, cancel, confirm),
  );
  const dialog = h("dialog", { "aria-labelledby": titleId }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    void busy(confirm, errors, async () => {
      await options.action(form);
      dialog.close();
    });
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** "Showing 21–40 of 95", previous / next, as links that change the URL's offset. */
export function pagination(total: number, limit: number, offset: number, hrefFor: (offset: number) => string): HTMLElement {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  const previous = offset > 0 ? h("a", { href: hrefFor(Math.max(0, offset - limit)), rel: "prev" }, "Previous page") : null;
  const next = offset + limit < total ? h("a", { href: hrefFor(offset + limit), rel: "next" }, "Next page") : null;
  return h(
    "nav",
    { className: "pagination", "aria-label": "Pages" },
    h("p", { className: "range" }, `Showing ${first}–${last} of ${total}`),
    previous,
    next,
  );
}

export function table(caption: string, headers: string[], rows: HTMLTableRowElement[]): HTMLTableElement {
  return h(
    "table",
    {},
    h("caption", { className: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, headers.map((text) => h("th", { scope: "col" }, text)))),
    h("tbody", {}, rows),
  );
}
