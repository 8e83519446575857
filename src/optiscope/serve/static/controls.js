// The playground's controls: the surface picker and the optimizer cards.
//
// Optimizer cards are generated from the registry's metadata (GET /api/optimizers): one field per
// hyperparameter, typed by its default and filled with it. A spec string holds only the fields
// that differ from their defaults, as `optiscope paths --opt` takes it. Every change is checked by
// the server (POST /api/check: the library's spec parser plus the optimizer's own constructor).

const BARE_WORD = /^[A-Za-z_][A-Za-z0-9_.\-]*$/;

export async function getJSON(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) {
    const error = new Error(body.error || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

export function postJSON(url, body) {
  return getJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

function element(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

// The kind of field a default value calls for.
function fieldKind(value) {
  if (typeof value === "boolean") return "bool";
  if (typeof value === "number") return "number";
  if (Array.isArray(value) && value.every((item) => typeof item === "number")) return "tuple";
  if (typeof value === "string" && BARE_WORD.test(value)) return "word";
  return "text";
}

function formatValue(kind, raw) {
  if (kind === "tuple") {
    const items = raw.split(",").map((item) => item.trim()).filter((item) => item !== "");
    return `(${items.join(",")}${items.length === 1 ? "," : ""})`;
  }
  if (kind === "word" || kind === "text") return BARE_WORD.test(raw) ? raw : JSON.stringify(raw);
  return String(raw);
}

// One field's problem found in the page (the server checks again): non-finite or negative lr.
function localProblem(name, kind, raw) {
  if (kind === "number") {
    const value = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(value)) return `${name} must be a finite number`;
    if ((name === "lr" || name === "max_lr") && value < 0) return `${name} must be >= 0`;
  }
  if (kind === "tuple") {
    const items = raw.split(",").map((item) => item.trim());
    if (items.some((item) => item === "" || !Number.isFinite(Number(item)))) {
      return `${name} must be numbers separated by commas`;
    }
  }
  return null;
}

export class OptimizerCard {
  constructor(entry, onChange, onRemove) {
    this.entry = entry;
    this.onChange = onChange;
    this.fields = [];
    this.valid = true;
    this.error = element("p", { class: "error", role: "alert" });
    this.specText = element("code", { class: "spec" });
    const remove = element("button", { type: "button", class: "remove", title: "remove", text: "×" });
    remove.addEventListener("click", () => onRemove(this));
    // Numbers and tuples (the values people tune) in sight; flags and free text folded away.
    const grid = element("div", { class: "hparams" });
    const moreGrid = element("div", { class: "hparams" });
    for (const [name, value] of Object.entries(entry.defaults)) {
      const kind = fieldKind(value);
      const input = element("input", { name, "data-kind": kind });
      if (kind === "bool") {
        input.type = "checkbox";
        input.checked = value;
      } else if (kind === "number") {
        input.type = "number";
        input.step = "any";
        input.value = String(value);
        if (name === "lr" || name === "max_lr") input.min = "0";
      } else {
        input.type = "text";
        input.value = kind === "tuple" ? value.join(", ") : kind === "word" ? value : "";
        if (kind === "text") input.placeholder = value === null ? "None" : String(value);
      }
      input.addEventListener("change", () => this.changed());
      this.fields.push({ name, kind, input, defaultValue: value });
      const target = kind === "number" || kind === "tuple" ? grid : moreGrid;
      target.append(element("label", {}, [element("span", { text: name }), input]));
    }
    const title = element("div", { class: "card-title" }, [
      element("strong", { text: entry.name }),
      element("span", { class: "source", text: entry.source }),
      remove,
    ]);
    const notes = entry.notes ? [element("p", { class: "notes", text: entry.notes })] : [];
    const more = moreGrid.childElementCount
      ? [element("details", {}, [element("summary", { text: "more settings" }), moreGrid])]
      : [];
    this.node = element("div", { class: "card", "data-optimizer": entry.name }, [
      title, ...notes, grid, ...more, this.specText, this.error,
    ]);
    this.node.card = this;
    this.changed();
  }

  // The hyperparameters that differ from their defaults, as {name: text}; lr times `lrScale`.
  changedValues(lrScale = 1) {
    const values = {};
    for (const field of this.fields) {
      const { name, kind, input, defaultValue } = field;
      if (kind === "bool") {
        if (input.checked !== defaultValue) values[name] = input.checked ? "True" : "False";
        continue;
      }
      const raw = input.value.trim();
      if (kind === "number") {
        let value = Number(raw);
        if (name === "lr" && lrScale !== 1) value *= lrScale;
        if (value !== defaultValue) values[name] = String(Number(value.toPrecision(12)));
      } else if (kind === "tuple") {
        if (raw.replace(/\s/g, "") !== defaultValue.join(",")) values[name] = formatValue(kind, raw);
      } else if (raw !== "" && raw !== defaultValue) {
        values[name] = formatValue(kind, raw);
      }
    }
    return values;
  }

  spec(lrScale = 1) {
    const parts = Object.entries(this.changedValues(lrScale)).map(([key, value]) => `${key}=${value}`);
    return parts.length ? `${this.entry.name}:${parts.join(",")}` : this.entry.name;
  }

  showError(message) {
    this.valid = !message;
    this.error.textContent = message || "";
    this.node.classList.toggle("invalid", !this.valid);
  }

  async changed() {
    for (const { name, kind, input } of this.fields) {
      const problem = kind === "bool" ? null : localProblem(name, kind, input.value);
      if (problem) {
        this.showError(problem);
        return;
      }
    }
    const spec = this.spec();
    this.specText.textContent = spec;
    try {
      await postJSON("/api/check", { optimizer: spec });
      this.showError(null);
    } catch (error) {
      this.showError(error.message);
    }
    this.onChange(this);
  }
}

// Fill the optimizer <select> from the registry, grouped by source; matrix-only ones disabled.
export function fillOptimizerSelect(select, entries) {
  const groups = new Map();
  for (const entry of entries) {
    if (!groups.has(entry.source)) groups.set(entry.source, element("optgroup", { label: entry.source }));
    const unusable = entry.needs_matrix;
    const label = unusable ? `${entry.name} (needs matrix parameters)` : entry.name;
    const option = element("option", { value: entry.name, text: label, title: entry.notes || "" });
    option.disabled = unusable;
    groups.get(entry.source).append(option);
  }
  select.replaceChildren(...groups.values());
}

export function fillSurfaceSelect(select, surfaces) {
  select.replaceChildren(
    ...surfaces.map((surface) => element("option", { value: surface.name, text: surface.name })),
  );
}

export function describeSurface(target, surface) {
  const minima = surface.minima.map((point) => `(${point.join(", ")})`).join(", ") || "none known";
  target.replaceChildren(
    element("code", { class: "formula", text: surface.formula }),
    element("p", { text: surface.description }),
    element("p", {
      class: "muted",
      text: `domain x ${surface.domain[0].join("..")}, y ${surface.domain[1].join("..")}; minima ${minima}`,
    }),
  );
}
