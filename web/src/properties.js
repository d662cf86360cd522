// The modeller's properties panel: a small form for the selected element (or the process when
// nothing is selected), written against bpmn-js's modeling commands so every edit is undoable
// and lands in the model bpmn-js writes. What it edits: id and name; a task's type; a sequence
// flow's condition; a timer's duration, date or cycle; a message's name and correlation key; a
// user task's assignee and candidates (BPMN humanPerformer/potentialOwner); a connector task's
// connector and inputs (a form from the connector's JSON Schema, `sluice:input` elements), with a
// channel picker for Slack Notification and buttons inserting the data paths the model uses.
import { api } from './api.js';
import { h, fill } from './dom.js';
import { fieldsOf, schemaForm } from './schema-form.js';

const TASK_TYPES = [
  ['bpmn:Task', 'Task'],
  ['bpmn:UserTask', 'User task'],
  ['bpmn:ServiceTask', 'Service task (connector)'],
  ['bpmn:SendTask', 'Send task (connector)'],
  ['bpmn:ScriptTask', 'Script task'],
  ['bpmn:ReceiveTask', 'Receive task (message)'],
  ['bpmn:ManualTask', 'Manual task'],
  ['bpmn:BusinessRuleTask', 'Business rule task'],
];
const CONNECTOR_TASKS = new Set(['bpmn:ServiceTask', 'bpmn:SendTask', 'bpmn:BusinessRuleTask']);
const TIMER_KINDS = [
  ['timeDuration', 'Duration (ISO 8601, e.g. PT1H)'],
  ['timeDate', 'Date (ISO 8601)'],
  ['timeCycle', 'Cycle (e.g. R3/PT10M)'],
];
/** What a Slack message may use besides the Request's data (`{{ path }}`). */
const REQUEST_FIELDS = ['request.id', 'request.url', 'process.key'];
const CAMUNDA_NS = 'http://camunda.org/schema/1.0/bpmn';
const SLUICE_XML_NS = 'urn:sluice:bpmn:1';
const BPMN_NS = 'http://www.omg.org/spec/BPMN/20100524/MODEL';
/** FEEL's words and built-in functions' usual names, which are no data paths. */
const FEEL_WORDS = new Set(
  'and or not true false null if then else for in return some every satisfies between instance of function list context string number boolean date time duration contains starts ends with matches upper lower substring count sum min max mean abs floor ceiling now today'.split(' '),
);

/**
 * The data paths a model is known to use, from its XML: the fields of its forms (Camunda 7
 * `camunda:formField`s and `sluice:field`s, on start events and user tasks), the result variables
 * of its tasks, the correlation keys of its messages, multi-instance output collections, and the
 * names its conditions read (`amount`, `customer.name`). Sorted, each once.
 * @param {string} xml
 * @returns {string[]}
 */
export function dataPathsOf(xml) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const paths = new Set();
  const add = (p) => {
    const v = (p || '').trim();
    if (/^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$/.test(v)) paths.add(v);
  };
  for (const f of doc.getElementsByTagNameNS(CAMUNDA_NS, 'formField')) add(f.getAttribute('id'));
  for (const f of doc.getElementsByTagNameNS(SLUICE_XML_NS, 'field')) add(f.getAttribute('id'));
  for (const el of doc.getElementsByTagName('*')) {
    for (const ns of [SLUICE_XML_NS, CAMUNDA_NS]) {
      add(el.getAttributeNS(ns, 'resultVariable'));
      add(el.getAttributeNS(ns, 'correlationKey'));
      add(el.getAttributeNS(ns, 'outputCollection'));
    }
  }
  for (const c of doc.getElementsByTagNameNS(BPMN_NS, 'conditionExpression')) {
    for (const name of namesRead(c.textContent || '')) add(name);
  }
  return [...paths].sort();
}

/** The names a FEEL condition reads: dotted identifiers outside strings, not followed by `(`, not FEEL's words. */
function namesRead(expr) {
  const text = expr.replace(/^\s*\$\{|\}\s*$/g, '').replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, ' ');
  const out = [];
  for (const m of text.matchAll(/[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*/g)) {
    if (/[\w.]$/.test(text.slice(0, m.index))) continue; // the tail of a number such as 1e5
    if (/^\s*\(/.test(text.slice(m.index + m[0].length))) continue; // a function called
    if (FEEL_WORDS.has(m[0].split('.')[0])) continue;
    out.push(m[0]);
  }
  return out;
}

/** The connector inputs of a task: name → text. */
export function inputsOf(bo) {
  const out = new Map();
  const values = (bo.extensionElements && bo.extensionElements.values) || [];
  for (const v of values) {
    if (v.$type !== 'sluice:Input' || !v.name) continue;
    out.set(v.name, v.value !== undefined ? v.value : (v.text || '').trim());
  }
  return out;
}

function eventDefinition(bo, type) {
  return (bo.eventDefinitions || []).find((d) => d.$type === type);
}

export class PropertiesPanel {
  /**
   * @param {any} modeler bpmn-js Modeler
   * @param {HTMLElement} container
   * @param {{ connectors: any[] }} context
   */
  constructor(modeler, container, context) {
    this.modeler = modeler;
    this.container = container;
    this.connectors = context.connectors;
    /** @type {any} */
    this.element = null;
    this.channels = new Map(); // alias → channel list
    this.integrations = null;
    const bus = modeler.get('eventBus');
    bus.on('selection.changed', (e) => this.show(e.newSelection.length === 1 ? e.newSelection[0] : null));
    bus.on('elements.changed', (e) => {
      const current = this.element || this.root();
      if (!current) return;
      if (!e.elements.some((el) => el === current || el.id === current.id)) return;
      // Not while the user types in the panel: the change came from the panel itself.
      if (this.container.contains(document.activeElement) && document.activeElement !== document.body) return;
      this.show(this.element);
    });
    bus.on('import.done', () => this.show(null));
  }

  root() {
    return this.modeler.get('canvas').getRootElement();
  }

  update(element, props) {
    this.modeler.get('modeling').updateProperties(element, props);
  }

  updateModdle(element, target, props) {
    this.modeler.get('modeling').updateModdleProperties(element, target, props);
  }

  /** Draws the panel for `element` (null: the process). */
  show(element) {
    this.element = element && element.type !== 'label' ? element : element && element.labelTarget ? element.labelTarget : element;
    const el = this.element || this.root();
    // Before a diagram is imported there is no root to show.
    if (!el || !el.businessObject) {
      fill(this.container);
      return;
    }
    const bo = el.businessObject;
    const sections = [this.general(el, bo)];
    const type = bo.$type;
    if (this.element && type.endsWith('Task')) sections.push(this.taskType(el, bo));
    if (type === 'bpmn:SequenceFlow') sections.push(this.condition(el, bo));
    const timer = bo.eventDefinitions && eventDefinition(bo, 'bpmn:TimerEventDefinition');
    if (timer) sections.push(this.timer(el, timer));
    const message = bo.eventDefinitions && eventDefinition(bo, 'bpmn:MessageEventDefinition');
    if (message) sections.push(this.message(el, message));
    if (type === 'bpmn:ReceiveTask') sections.push(this.message(el, bo));
    if (type === 'bpmn:UserTask') sections.push(this.assignment(el, bo));
    if (CONNECTOR_TASKS.has(type)) sections.push(this.connector(el, bo));
    fill(this.container, sections);
  }

  general(el, bo) {
    const isProcess = !this.element;
    const id = h('input', { id: 'prop-id', type: 'text' });
    id.value = bo.id || '';
    const idProblem = h('span', { class: 'field-problem error', id: 'prop-id-problem' });
    id.addEventListener('change', () => {
      const v = id.value.trim();
      if (!/^[A-Za-z_][\w.-]*$/.test(v)) {
        idProblem.textContent = 'an id starts with a letter or _ and has letters, digits, _ . - only';
        return;
      }
      const taken = this.modeler.get('elementRegistry').get(v);
      if (taken && taken !== el) {
        idProblem.textContent = `${v} is taken`;
        return;
      }
      idProblem.textContent = '';
      this.update(el, { id: v });
    });
    const name = h('input', { id: 'prop-name', type: 'text' });
    name.value = bo.name || '';
    name.addEventListener('change', () => this.update(el, { name: name.value || undefined }));
    return h(
      'section',
      { class: 'props-section' },
      h('h3', {}, isProcess ? 'Process' : bo.$type.replace('bpmn:', '')),
      field(isProcess ? 'Key (process id)' : 'Id', id, idProblem),
      field('Name', name),
      isProcess ? h('p', { class: 'hint' }, 'Select an element to edit it; the key names the process in the API.') : null,
    );
  }

  taskType(el, bo) {
    const select = h(
      'select',
      { id: 'prop-type' },
      TASK_TYPES.map(([t, label]) => h('option', { value: t, selected: t === bo.$type }, label)),
    );
    select.addEventListener('change', () => {
      const replaced = this.modeler.get('bpmnReplace').replaceElement(el, { type: select.value });
      this.modeler.get('selection').select(replaced);
    });
    return h('section', { class: 'props-section' }, field('Type', select));
  }

  condition(el, bo) {
    const from = bo.sourceRef;
    const gateway = from && /Gateway$/.test(from.$type);
    const text = h('textarea', { id: 'prop-condition', rows: 2 });
    text.value = bo.conditionExpression ? bo.conditionExpression.body || '' : '';
    text.addEventListener('change', () => {
      const body = text.value.trim();
      const expr = body ? this.modeler.get('moddle').create('bpmn:FormalExpression', { body }) : undefined;
      this.update(el, { conditionExpression: expr });
    });
    const isDefault = from && from.default === bo;
    const def = h('input', { type: 'checkbox', id: 'prop-default', checked: isDefault });
    def.addEventListener('change', () => {
      const source = this.modeler.get('elementRegistry').get(from.id);
      if (source) this.update(source, { default: def.checked ? bo : undefined });
    });
    return h(
      'section',
      { class: 'props-section' },
      h('h3', {}, 'Condition'),
      field('Taken when (FEEL, e.g. amount > 100)', text),
      gateway ? h('label', { class: 'check' }, def, ' The default flow (taken when no condition holds)') : null,
    );
  }

  timer(el, def) {
    const current = TIMER_KINDS.find(([k]) => def[k]) || TIMER_KINDS[0];
    const kind = h('select', { id: 'prop-timer-kind' }, TIMER_KINDS.map(([k, label]) => h('option', { value: k, selected: k === current[0] }, label)));
    const value = h('input', { id: 'prop-timer', type: 'text', placeholder: 'PT1H' });
    value.value = def[current[0]] ? def[current[0]].body || '' : '';
    const save = () => {
      const moddle = this.modeler.get('moddle');
      const props = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      if (value.value.trim()) props[kind.value] = moddle.create('bpmn:FormalExpression', { body: value.value.trim() });
      this.updateModdle(el, def, props);
    };
    kind.addEventListener('change', save);
    value.addEventListener('change', save);
    return h('section', { class: 'props-section' }, h('h3', {}, 'Timer'), field('Kind', kind), field('When', value));
  }

  message(el, holder) {
    const msg = holder.messageRef;
    const name = h('input', { id: 'prop-message', type: 'text' });
    name.value = msg ? msg.name || '' : '';
    const key = h('input', { id: 'prop-correlation', type: 'text', placeholder: 'order.id' });
    key.value = msg ? msg.get('sluice:correlationKey') || '' : '';
    const save = () => {
      const v = name.value.trim();
      if (!v) {
        this.updateModdle(el, holder, { messageRef: undefined });
        return;
      }
      const m = this.messageNamed(v);
      this.updateModdle(el, holder, { messageRef: m });
      this.updateModdle(el, m, { 'sluice:correlationKey': key.value.trim() || undefined });
    };
    name.addEventListener('change', save);
    key.addEventListener('change', save);
    return h(
      'section',
      { class: 'props-section' },
      h('h3', {}, 'Message'),
      field('Message name', name),
      field('Correlation key (a path in the data)', key),
    );
  }

  /** The `bpmn:Message` of the definitions with this name, made when there is none. */
  messageNamed(name) {
    const defs = this.modeler.getDefinitions();
    const found = defs.rootElements.find((e) => e.$type === 'bpmn:Message' && e.name === name);
    if (found) return found;
    const id = `Message_${name.replace(/[^\w]/g, '_')}`;
    const taken = new Set(defs.rootElements.map((e) => e.id));
    let unique = id;
    for (let i = 2; taken.has(unique); i++) unique = `${id}_${i}`;
    const m = this.modeler.get('bpmnFactory').create('bpmn:Message', { id: unique, name });
    m.$parent = defs;
    defs.rootElements.push(m);
    return m;
  }

  assignment(el, bo) {
    const resources = bo.resources || [];
    const bodyOf = (r) => (r.resourceAssignmentExpression && r.resourceAssignmentExpression.expression && r.resourceAssignmentExpression.expression.body) || '';
    const performer = resources.find((r) => r.$type === 'bpmn:HumanPerformer');
    const users = [];
    const groups = [];
    for (const r of resources.filter((r) => r.$type === 'bpmn:PotentialOwner')) {
      const b = bodyOf(r).trim();
      const m = b.match(/^(user|group)\((.*)\)$/);
      if (m && m[1] === 'user') users.push(m[2].trim());
      else if (m) groups.push(m[2].trim());
      else if (b) groups.push(b);
    }
    const assignee = h('input', { id: 'prop-assignee', type: 'text', placeholder: 'a username, or = requester' });
    assignee.value = performer ? bodyOf(performer) : '';
    const candUsers = h('input', { id: 'prop-candidate-users', type: 'text', placeholder: 'alice, bob' });
    candUsers.value = users.join(', ');
    const candGroups = h('input', { id: 'prop-candidate-groups', type: 'text', placeholder: 'sales, finance' });
    candGroups.value = groups.join(', ');
    const save = () => {
      const moddle = this.modeler.get('moddle');
      const role = (type, body) =>
        moddle.create(type, {
          resourceAssignmentExpression: moddle.create('bpmn:ResourceAssignmentExpression', {
            expression: moddle.create('bpmn:FormalExpression', { body }),
          }),
        });
      const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
      const kept = resources.filter((r) => r.$type !== 'bpmn:HumanPerformer' && r.$type !== 'bpmn:PotentialOwner');
      const next = [...kept];
      if (assignee.value.trim()) next.push(role('bpmn:HumanPerformer', assignee.value.trim()));
      for (const u of list(candUsers.value)) next.push(role('bpmn:PotentialOwner', `user(${u})`));
      for (const g of list(candGroups.value)) next.push(role('bpmn:PotentialOwner', `group(${g})`));
      this.update(el, { resources: next.length > 0 ? next : undefined });
    };
    for (const i of [assignee, candUsers, candGroups]) i.addEventListener('change', save);
    return h(
      'section',
      { class: 'props-section' },
      h('h3', {}, 'Who works it'),
      field('Assignee', assignee),
      field('Candidate users', candUsers),
      field('Candidate groups', candGroups),
      h('p', { class: 'hint' }, 'Written as BPMN humanPerformer and potentialOwner, which Camunda Modeler keeps too.'),
    );
  }

  connector(el, bo) {
    const select = h(
      'select',
      { id: 'prop-connector' },
      h('option', { value: '' }, '(none)'),
      this.connectors.map((c) => h('option', { value: c.type, selected: c.type === bo.implementation }, `${c.name} (${c.type})`)),
    );
    select.addEventListener('change', () => this.update(el, { implementation: select.value || undefined }));
    const section = h('section', { class: 'props-section', id: 'connector-form' }, h('h3', {}, 'Connector'), field('Calls', select));
    const connector = this.connectors.find((c) => c.type === bo.implementation);
    if (bo.implementation && !connector) {
      section.append(h('p', { class: 'error' }, `This server has no connector "${bo.implementation}".`));
    }
    if (!connector) return section;
    const values = inputsOf(bo);
    const onChange = (name, value) => {
      const next = inputsOf(this.element ? this.element.businessObject : bo);
      if (value === '') next.delete(name);
      else next.set(name, value);
      this.writeInputs(el, next);
    };
    const slack = connector.type === 'slack-notification';
    const extra = (f, control, commit) => {
      if (!slack) return null;
      if (f.name === 'integration') return this.integrationPicker(control, commit);
      if (f.name === 'channel') return this.channelPicker(el, control, commit);
      if (f.name === 'message') return this.fieldButtons(control, commit);
      return null;
    };
    const rv = h('input', { id: 'prop-result', type: 'text' });
    rv.value = bo.get('sluice:resultVariable') || '';
    rv.addEventListener('change', () => this.update(el, { 'sluice:resultVariable': rv.value.trim() || undefined }));
    section.append(...schemaForm(fieldsOf(connector.inputs_schema), values, onChange, extra), field('Result variable', rv));
    return section;
  }

  /** Writes the inputs as `sluice:input` elements, keeping every other extension element. */
  writeInputs(el, inputs) {
    const moddle = this.modeler.get('moddle');
    const bo = el.businessObject;
    const others = ((bo.extensionElements && bo.extensionElements.values) || []).filter((v) => v.$type !== 'sluice:Input');
    const made = [...inputs].map(([name, value]) =>
      // Text with line breaks goes in the element's body: an attribute would lose them.
      value.includes('\n') ? moddle.create('sluice:Input', { name, text: value }) : moddle.create('sluice:Input', { name, value }),
    );
    const values = [...others, ...made];
    const ext = values.length > 0 ? moddle.create('bpmn:ExtensionElements', { values }) : undefined;
    if (ext) for (const v of values) v.$parent = ext;
    this.update(el, { extensionElements: ext });
  }

  async loadIntegrations() {
    if (!this.integrations) {
      const { integrations } = await api('GET', '/api/v1/integrations/slack');
      this.integrations = integrations;
    }
    return this.integrations;
  }

  integrationPicker(control, commit) {
    const note = h('span', { class: 'hint', id: 'integrations-note' });
    this.loadIntegrations()
      .then((list) => {
        // The text field stays (a template or an alias not connected yet); the list fills it.
        const pick = h(
          'select',
          { id: 'integration-pick', 'aria-label': 'Connected workspaces' },
          h('option', { value: '' }, list.length ? 'Pick a connected workspace…' : 'No workspace is connected'),
          list.map((i) => h('option', { value: i.alias }, `${i.alias}${i.team ? ` (${i.team.name || i.team})` : ''}`)),
        );
        pick.addEventListener('change', () => {
          if (!pick.value) return;
          control.value = pick.value;
          commit(pick.value);
          this.show(this.element);
        });
        note.replaceWith(pick);
      })
      .catch((e) => (note.textContent = `Workspaces: ${e.message}`));
    return note;
  }

  /** The alias the task posts with: its `integration` input, else the only one, else `default`. */
  aliasFor(el) {
    const chosen = inputsOf(el.businessObject).get('integration');
    if (chosen) return chosen;
    const list = this.integrations || [];
    return list.length === 1 ? list[0].alias : 'default';
  }

  channelPicker(el, control, commit) {
    const pick = h('select', { id: 'channel-pick', 'aria-label': 'Channels' }, h('option', { value: '' }, 'Loading channels…'));
    const refresh = h('button', { type: 'button', id: 'channel-refresh', class: 'small', title: 'Read the channel list again from Slack' }, 'Refresh');
    const note = h('p', { class: 'hint', id: 'channel-note' });
    const load = async (fresh) => {
      await this.loadIntegrations().catch(() => []);
      const alias = this.aliasFor(el);
      try {
        let list = fresh ? undefined : this.channels.get(alias);
        if (!list) {
          const answer = await api('GET', `/api/v1/integrations/slack/${encodeURIComponent(alias)}/channels${fresh ? '?refresh=true' : ''}`);
          list = answer.channels;
          this.channels.set(alias, list);
          note.textContent = answer.note || '';
        }
        fill(
          pick,
          h('option', { value: '' }, `Pick a channel of ${alias}…`),
          list.map((c) =>
            h('option', { value: c.id, selected: c.id === control.value }, `${c.is_private ? '🔒' : '#'}${c.name}${c.is_member ? '' : ' (bot not invited)'}`),
          ),
        );
      } catch (e) {
        fill(pick, h('option', { value: '' }, 'No channel list'));
        note.textContent = `${alias}: ${e.message}`;
      }
    };
    pick.addEventListener('change', () => {
      if (!pick.value) return;
      control.value = pick.value;
      commit(pick.value);
    });
    refresh.addEventListener('click', () => load(true));
    load(false);
    return h('div', { class: 'picker' }, pick, ' ', refresh, note);
  }

  /** Buttons that insert what a message may use at the cursor: the Request's fields and the model's data paths. */
  fieldButtons(control, commit) {
    const insert = (text) => {
      const start = control.selectionStart ?? control.value.length;
      const end = control.selectionEnd ?? control.value.length;
      control.value = control.value.slice(0, start) + text + control.value.slice(end);
      commit(control.value);
      control.focus();
    };
    const chip = (f, cls) => h('button', { type: 'button', class: `small chip ${cls}`, dataset: { field: f }, onclick: () => insert(`{{ ${f} }}`) }, f);
    const data = h('span', { class: 'data-fields' });
    this.modeler
      .saveXML()
      .then(({ xml }) => {
        const paths = dataPathsOf(xml).filter((p) => !REQUEST_FIELDS.includes(p));
        if (paths.length > 0) fill(data, ' Data: ', paths.map((p) => chip(p, 'data-path')));
      })
      .catch(() => {});
    return h(
      'div',
      { class: 'insert-fields' },
      'Insert: ',
      REQUEST_FIELDS.map((f) => chip(f, 'request-field')),
      data,
      h('span', { class: 'hint' }, ' and any field of the Request\'s data as {{ path.to.field }}'),
    );
  }
}

function field(label, control, ...more) {
  const id = control.id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, ...more);
}
