// The modeller: bpmn-js's prebuilt Modeler (loaded on this page only, with its icon font), the
// `sluice:` moddle extension, a palette entry per connector, our properties panel, Save (the
// server checks and deploys a new version; its diagnostics become markers on the diagram) and a
// draft of the model XML in localStorage, written on every change, so a failed save or a lost
// connection loses nothing. Only the XML is kept there, never a token.
import { layoutProcess } from 'bpmn-auto-layout';
import { api } from './api.js';
import { h, fill, page, errorBox, when } from './dom.js';
import { forLayout, hasDiagram } from './diagram.js';
import { PropertiesPanel } from './properties.js';
import { sluiceModdle } from './sluice-moddle.js';

/** The draft of a model: by process key, or `new` for one not saved yet. */
export const draftKey = (key) => `sluice.draft.${key || 'new'}`;

const EMPTY = `<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:sluice="urn:sluice:bpmn:1" id="Definitions_1" targetNamespace="urn:sluice:models">
  <bpmn:process id="new_process" name="New process" isExecutable="true">
    <bpmn:startEvent id="StartEvent_1" name="Start"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_1">
    <bpmndi:BPMNPlane id="BPMNPlane_1" bpmnElement="new_process">
      <bpmndi:BPMNShape id="StartEvent_1_di" bpmnElement="StartEvent_1"><dc:Bounds x="152" y="102" width="36" height="36"/></bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
`;

let modelerClass = null;

/** Loads bpmn-js's modeler bundle (it sets the same global as the viewer: the viewer's is kept). */
function loadModeler() {
  if (modelerClass) return Promise.resolve(modelerClass);
  const meta = document.querySelector('meta[name="sluice-vendor"]');
  const vendor = meta ? meta.getAttribute('content') : '';
  document.head.append(h('link', { rel: 'stylesheet', href: `${vendor}/bpmn-font/css/bpmn.css` }));
  return new Promise((resolve, reject) => {
    // @ts-ignore: the prebuilt bundles' global
    const viewer = window.BpmnJS;
    const script = h('script', { src: `${vendor}/bpmn-modeler.production.min.js` });
    script.addEventListener('load', () => {
      // @ts-ignore
      modelerClass = window.BpmnJS;
      // @ts-ignore
      window.BpmnJS = viewer;
      resolve(modelerClass);
    });
    script.addEventListener('error', () => reject(new Error('the modeller did not load')));
    document.head.append(script);
  });
}

/** A palette entry per connector: a service task calling it, ready to configure. */
function connectorPalette(connectors) {
  function SluicePalette(palette, create, elementFactory, bpmnFactory) {
    this.getPaletteEntries = () => {
      const entries = {
        'sluice-separator': { group: 'sluice', separator: true },
        'create.user-task': entry('bpmn:UserTask', {}, 'bpmn-icon-user-task', 'Create a user task'),
      };
      for (const c of connectors) {
        entries[`create.${c.type}`] = entry('bpmn:ServiceTask', { implementation: c.type, name: c.name }, `bpmn-icon-service-task sluice-connector`, `Create a ${c.name} task`);
      }
      return entries;
    };
    function entry(type, attrs, className, title) {
      const make = (event) => {
        const businessObject = bpmnFactory.create(type, attrs);
        create.start(event, elementFactory.createShape({ type, businessObject }));
      };
      return { group: 'sluice', className, title, action: { dragstart: make, click: make } };
    }
    palette.registerProvider(this);
  }
  SluicePalette.$inject = ['palette', 'create', 'elementFactory', 'bpmnFactory'];
  return { __init__: ['sluicePalette'], sluicePalette: ['type', SluicePalette] };
}

function readDraft(key) {
  try {
    const raw = localStorage.getItem(draftKey(key));
    const d = raw ? JSON.parse(raw) : null;
    return d && typeof d.xml === 'string' ? d : null;
  } catch {
    return null;
  }
}

/** `/modeller` (a new model) or `/modeller/{key}` (`?version=N`, else the latest). */
export async function modellerPage(_me, key) {
  const params = new URLSearchParams(location.search);
  const status = h('div', { id: 'save-status', role: 'status' });
  const canvas = h('div', { class: 'modeller-canvas', id: 'modeller' });
  const panel = h('aside', { class: 'props', id: 'properties' });
  const save = h('button', { type: 'button', id: 'save' }, 'Save and deploy');
  const download = h('button', { type: 'button', id: 'download-xml', class: 'secondary' }, 'Download XML');
  const banner = h('div', { id: 'draft-banner' });
  page(key ? `Edit ${key}` : 'New model', h('div', { class: 'toolbar' }, save, ' ', download), banner, status, h('div', { class: 'modeller' }, canvas, panel));

  const [Modeler, { connectors }] = await Promise.all([loadModeler(), api('GET', '/api/v1/connectors')]);
  const modeler = new Modeler({
    container: canvas,
    moddleExtensions: { sluice: sluiceModdle },
    additionalModules: [connectorPalette(connectors)],
  });
  const props = new PropertiesPanel(modeler, panel, { connectors });

  let base = { xml: EMPTY, label: 'a new model' };
  if (key) {
    const version = params.get('version');
    const v = await api('GET', `/api/v1/processes/${encodeURIComponent(key)}${version ? `?version=${encodeURIComponent(version)}` : ''}`);
    const xml = hasDiagram(v.xml) ? v.xml : await layoutProcess(forLayout(v.xml, key));
    base = { xml, label: `v${v.version}` };
  }
  const open = async (xml) => {
    const { warnings } = await modeler.importXML(xml);
    modeler.get('canvas').zoom('fit-viewport', 'auto');
    if (warnings.length > 0) status.append(h('p', { class: 'muted' }, `${warnings.length} import warning(s): ${warnings[0].message}`));
    props.show(null);
  };
  let draftFor = key;
  const draft = readDraft(key);
  if (draft && draft.xml !== base.xml) {
    await open(draft.xml);
    fill(
      banner,
      h(
        'p',
        { class: 'card notice', id: 'draft-restored' },
        `Your unsaved draft from ${when(draft.saved_at)} is open (not ${base.label}). `,
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            id: 'discard-draft',
            onclick: async () => {
              localStorage.removeItem(draftKey(draftFor));
              fill(banner);
              await open(base.xml);
            },
          },
          'Discard the draft',
        ),
      ),
    );
  } else {
    await open(base.xml);
  }

  // The draft: written (debounced) on every change of the model.
  let timer = 0;
  const keep = () => {
    clearTimeout(timer);
    timer = window.setTimeout(async () => {
      const { xml } = await modeler.saveXML({ format: true });
      localStorage.setItem(draftKey(draftFor), JSON.stringify({ xml, saved_at: new Date().toISOString() }));
    }, 250);
  };
  modeler.get('eventBus').on('commandStack.changed', () => {
    clearMarks(modeler);
    keep();
  });

  save.addEventListener('click', async () => {
    save.disabled = true;
    // The draft is written here, now: no pending write may bring it back after a deploy.
    clearTimeout(timer);
    fill(status, h('p', { class: 'muted' }, 'Checking and deploying…'));
    try {
      const { xml } = await modeler.saveXML({ format: true });
      localStorage.setItem(draftKey(draftFor), JSON.stringify({ xml, saved_at: new Date().toISOString() }));
      try {
        const { processes } = await api('POST', '/api/v1/processes', xml, 'application/xml');
        localStorage.removeItem(draftKey(draftFor));
        const first = processes[0];
        if (first && first.key !== draftFor) {
          draftFor = first.key;
          history.replaceState(null, '', `/modeller/${encodeURIComponent(first.key)}`);
        }
        fill(banner);
        fill(
          status,
          h(
            'p',
            { class: 'ok', id: 'saved' },
            'Deployed ',
            processes.map((p, i) => [i > 0 ? ', ' : '', h('a', { href: `/processes/${encodeURIComponent(p.key)}` }, `${p.key} v${p.version}`)]),
          ),
        );
      } catch (e) {
        showProblems(modeler, status, e);
      }
    } catch (e) {
      fill(status, errorBox(e));
    } finally {
      save.disabled = false;
    }
  });

  download.addEventListener('click', async () => {
    const { xml } = await modeler.saveXML({ format: true });
    const a = h('a', { href: URL.createObjectURL(new Blob([xml], { type: 'application/xml' })), download: `${draftFor || 'process'}.bpmn` });
    a.click();
  });
}

const marked = new WeakMap();

function clearMarks(modeler) {
  const list = marked.get(modeler) || [];
  const canvas = modeler.get('canvas');
  for (const id of list) canvas.removeMarker(id, 'diag-error');
  marked.set(modeler, []);
  modeler.get('overlays').remove({ type: 'sluice-diagnostic' });
}

/** A refused save: the message, each diagnostic (line, column) and a marker on its element. */
function showProblems(modeler, status, e) {
  const diagnostics = (e.body && e.body.error && e.body.error.diagnostics) || [];
  clearMarks(modeler);
  const registry = modeler.get('elementRegistry');
  const canvas = modeler.get('canvas');
  const overlays = modeler.get('overlays');
  const byElement = new Map();
  for (const d of diagnostics) {
    if (d.element && registry.get(d.element)) byElement.set(d.element, [...(byElement.get(d.element) || []), d]);
  }
  const ids = [];
  for (const [id, list] of byElement) {
    canvas.addMarker(id, 'diag-error');
    ids.push(id);
    overlays.add(id, 'sluice-diagnostic', {
      position: { top: -12, right: 12 },
      html: h('div', { class: 'badge badge-error', title: list.map((d) => d.message).join('\n'), dataset: { element: id } }, `${list.length} ✕`),
    });
  }
  marked.set(modeler, ids);
  fill(
    status,
    h('p', { class: 'error', role: 'alert' }, `Not deployed: ${e.message}. Your model is kept as a draft in this browser.`),
    diagnostics.length > 0
      ? h(
          'ul',
          { class: 'diagnostics', id: 'diagnostics' },
          diagnostics.map((d) =>
            h(
              'li',
              {},
              d.element ? h('button', { type: 'button', class: 'link', onclick: () => select(modeler, d.element) }, d.element) : null,
              ' ',
              h('span', { class: 'code' }, d.code),
              ': ',
              d.message,
            ),
          ),
        )
      : null,
  );
}

function select(modeler, id) {
  const el = modeler.get('elementRegistry').get(id);
  if (el) modeler.get('selection').select(el);
}
