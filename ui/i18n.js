// The words of every screen, in the desk's language. Rust owns the
// catalogue (one per language) and hands over the chosen one; this module
// looks words up and fills placeholders exactly as Rust's `i18n::render`
// does: `{name}` from the arguments, `{{`/`}}` literal, and a count picks
// `key.one` or `key.other` by the language's plural rule. Messages that
// Rust decides (errors, outcomes, delivery) arrive as `{key, args, count}`
// and are rendered here too, so the whole page is in one language.

let messages = {};
let language = "en";
let plurals = new Intl.PluralRules("en");

export function use(catalogue) {
  messages = catalogue.messages || {};
  language = catalogue.language || "en";
  plurals = new Intl.PluralRules(language);
  document.documentElement.lang = language;
}

export const lang = () => language;

function fill(pattern, args) {
  return pattern.replace(/\{\{|\}\}|\{([^{}]*)\}/g, (match, name) => {
    if (match === "{{") return "{";
    if (match === "}}") return "}";
    if (!(name in args)) return match;
    const value = args[name];
    return value && typeof value === "object" ? render(value) : String(value);
  });
}

// A `{key, args, count}` from Rust, or a key with its arguments from here.
export function render(text) {
  if (typeof text === "string") return text;
  if (!text || typeof text.key !== "string") return "";
  let pattern;
  if (typeof text.count === "number") {
    const form = plurals.select(text.count) === "one" ? "one" : "other";
    pattern = messages[`${text.key}.${form}`];
  }
  if (pattern === undefined) pattern = messages[text.key];
  if (pattern === undefined) return text.key; // shows a missing word rather than nothing
  return fill(pattern, text.args || {});
}

export function t(key, args = {}, count) {
  return render({ key, args, count });
}

// Static words in the HTML carry their key: data-i18n (text),
// data-i18n-title, data-i18n-placeholder, data-i18n-aria-label.
// Templates (cards, audit rows) are translated once, so every clone is.
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const [attr, data] of [["title", "i18nTitle"], ["placeholder", "i18nPlaceholder"], ["aria-label", "i18nAriaLabel"]]) {
    for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
  }
  for (const template of root.querySelectorAll("template")) translatePage(template.content);
}
