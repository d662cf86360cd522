// A form generated from a connector's JSON Schema (`inputs_schema` of GET /api/v1/connectors):
// one field per property, its widget picked from the property's type. Every value is kept as the
// text of a `sluice:input` (a template is fine wherever a string goes; for numbers, booleans and
// objects the server reads the text as JSON), so the form checks only what it can know: a
// required input left empty, a number or JSON value that does not parse (and is no template).
import { h } from './dom.js';

/**
 * @typedef {{ name: string, label: string, description: string, required: boolean,
 *   kind: 'text' | 'textarea' | 'number' | 'boolean' | 'enum' | 'json', options: string[],
 *   minLength: number }} Field
 */

/** The types a property allows (`type` may be a list; `anyOf`/`oneOf` and `$ref` mean "any"). */
function typesOf(prop) {
  if (!prop || typeof prop !== 'object') return [];
  if (Array.isArray(prop.type)) return prop.type.filter((t) => t !== 'null');
  if (typeof prop.type === 'string') return [prop.type];
  if (Array.isArray(prop.anyOf) || Array.isArray(prop.oneOf)) return ['json'];
  return ['json'];
}

const LONG_TEXT = /^(message|body|text|template|script|description)$/;

/** The fields of a schema, in the schema's order. */
export function fieldsOf(schema) {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  return Object.entries(props).map(([name, prop]) => {
    const types = typesOf(prop);
    /** @type {Field['kind']} */
    let kind = 'json';
    if (Array.isArray(prop.enum)) kind = 'enum';
    else if (types.length === 1 && types[0] === 'string') kind = LONG_TEXT.test(name) ? 'textarea' : 'text';
    else if (types.length === 1 && (types[0] === 'number' || types[0] === 'integer')) kind = 'number';
    else if (types.length === 1 && types[0] === 'boolean') kind = 'boolean';
    return {
      name,
      label: prop.title || name.replaceAll('_', ' '),
      description: typeof prop.description === 'string' ? prop.description : '',
      required: required.has(name),
      kind,
      options: Array.isArray(prop.enum) ? prop.enum.map(String) : [],
      minLength: typeof prop.minLength === 'number' ? prop.minLength : 0,
    };
  });
}

const isTemplate = (v) => /\{\{[^}]+\}\}/.test(v);

/** What is wrong with `value` for `field`, or '' (the checks a form can make without the data). */
export function problemOf(field, value) {
  const v = value || '';
  if (v.trim() === '') return field.required ? 'required' : '';
  if (isTemplate(v)) return '';
  if (field.kind === 'number' && !Number.isFinite(Number(v))) return 'not a number';
  if (field.kind === 'boolean' && v !== 'true' && v !== 'false') return 'true or false';
  if (field.kind === 'json') {
    try {
      JSON.parse(v);
    } catch {
      // Plain text is fine for an input that accepts a string.
      return '';
    }
  }
  if (field.kind === 'enum' && field.options.length > 0 && !field.options.includes(v)) return `one of ${field.options.join(', ')}`;
  return '';
}

/**
 * The form's fields: `values` (name → text), `onChange(name, text)` on each committed change,
 * `extra(field)` may answer more elements to put under a field (a channel picker).
 */
export function schemaForm(fields, values, onChange, extra = () => null) {
  return fields.map((f) => {
    const id = `input-${f.name}`;
    const value = values.get(f.name) || '';
    const problem = h('span', { class: 'field-problem error', id: `${id}-problem` }, problemOf(f, value));
    const commit = (v) => {
      problem.textContent = problemOf(f, v);
      onChange(f.name, v);
    };
    let control;
    if (f.kind === 'boolean' || f.kind === 'enum') {
      const options = f.kind === 'boolean' ? ['true', 'false'] : f.options;
      control = h(
        'select',
        { id, name: f.name },
        h('option', { value: '' }, f.required ? '(choose)' : '(default)'),
        options.map((o) => h('option', { value: o, selected: o === value }, o)),
      );
      control.addEventListener('change', () => commit(control.value));
    } else {
      const multi = f.kind === 'textarea' || f.kind === 'json';
      control = multi
        ? h('textarea', { id, name: f.name, rows: f.kind === 'textarea' ? 5 : 3 })
        : h('input', { id, name: f.name, type: 'text', inputmode: f.kind === 'number' ? 'decimal' : null });
      control.value = value;
      control.addEventListener('change', () => commit(control.value));
    }
    return h(
      'div',
      { class: 'field', dataset: { input: f.name } },
      h('label', { for: id }, f.label, f.required ? h('span', { class: 'required', title: 'required' }, ' *') : null),
      control,
      problem,
      extra(f, control, commit),
      f.description ? h('p', { class: 'hint' }, f.description) : null,
    );
  });
}
