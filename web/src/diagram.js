// The diagram: bpmn-js's prebuilt navigated viewer (the global `BpmnJS` of its script), with
// markers and overlays on elements. A model without a diagram (no BPMNDI shapes) is laid out with
// bpmn-auto-layout first, so every model can be shown.
import { layoutProcess } from 'bpmn-auto-layout';

const DI = 'http://www.omg.org/spec/BPMN/20100524/DI';
const MODEL = 'http://www.omg.org/spec/BPMN/20100524/MODEL';

/** Whether the XML has diagram shapes to draw. */
export function hasDiagram(xml) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) return false;
  return doc.getElementsByTagNameNS(DI, 'BPMNShape').length > 0;
}

/**
 * The XML ready for bpmn-auto-layout: only the process `processId` (when given), and every
 * sequence flow also named by its source's `outgoing` and its target's `incoming` (which models
 * written by code often leave out, and which the layout follows).
 */
export function forLayout(xml, processId) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) return xml;
  // The layout draws the first process only: keep the one asked for (a file may hold several).
  if (processId) {
    const root = doc.documentElement;
    for (const el of Array.from(root.children)) {
      if (el.namespaceURI !== MODEL) continue;
      const other = el.localName === 'process' && el.getAttribute('id') !== processId;
      if (other || el.localName === 'collaboration') el.remove();
    }
  }
  const byId = new Map();
  for (const el of Array.from(doc.getElementsByTagNameNS(MODEL, '*'))) {
    const id = el.getAttribute('id');
    if (id) byId.set(id, el);
  }
  const refs = (el, name) =>
    new Set(Array.from(el.children).filter((c) => c.namespaceURI === MODEL && c.localName === name).map((c) => c.textContent.trim()));
  const add = (el, name, flowId) => {
    if (!el || refs(el, name).has(flowId)) return;
    const ref = doc.createElementNS(MODEL, el.prefix ? `${el.prefix}:${name}` : name);
    ref.textContent = flowId;
    // `incoming` and `outgoing` come first among a flow node's children (after extensions).
    const after = Array.from(el.children).filter((c) => ['documentation', 'extensionElements', 'incoming', 'outgoing'].includes(c.localName));
    const anchor = after.length > 0 ? after[after.length - 1].nextSibling : el.firstChild;
    el.insertBefore(ref, anchor);
  };
  for (const flow of Array.from(doc.getElementsByTagNameNS(MODEL, 'sequenceFlow'))) {
    const id = flow.getAttribute('id');
    if (!id) continue;
    add(byId.get(flow.getAttribute('sourceRef')), 'outgoing', id);
    add(byId.get(flow.getAttribute('targetRef')), 'incoming', id);
  }
  return new XMLSerializer().serializeToString(doc);
}

/** The id of the BPMNDiagram that draws process `processId` (itself or in a collaboration). */
function diagramOf(xml, processId) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  const owners = new Set([processId]);
  for (const p of Array.from(doc.getElementsByTagNameNS(MODEL, 'participant'))) {
    if (p.getAttribute('processRef') === processId && p.parentElement) owners.add(p.parentElement.getAttribute('id'));
  }
  for (const d of Array.from(doc.getElementsByTagNameNS(DI, 'BPMNDiagram'))) {
    const plane = d.getElementsByTagNameNS(DI, 'BPMNPlane')[0];
    if (plane && owners.has(plane.getAttribute('bpmnElement'))) return d.getAttribute('id') || undefined;
  }
  return undefined;
}

export class Diagram {
  /** @param {HTMLElement} container */
  constructor(container) {
    // @ts-ignore: the global of bpmn-js's prebuilt script (loaded by the page shell)
    const BpmnJS = window.BpmnJS;
    if (!BpmnJS) throw new Error('the diagram viewer did not load');
    this.viewer = new BpmnJS({ container });
    /** @type {{ id: string, cls: string }[]} */
    this.markers = [];
    this.laidOut = false;
  }

  /**
   * Shows `xml`, the diagram of process `processId` when given (laid out first when the file has
   * no diagram). Throws when bpmn-js cannot read it.
   */
  async show(xml, processId) {
    let source = xml;
    let diagramId;
    if (!hasDiagram(xml)) {
      source = await layoutProcess(forLayout(xml, processId));
      this.laidOut = true;
    } else if (processId) {
      diagramId = diagramOf(xml, processId);
    }
    await this.viewer.importXML(source, diagramId);
    this.viewer.get('canvas').zoom('fit-viewport', 'auto');
  }

  has(id) {
    return Boolean(id && this.viewer.get('elementRegistry').get(id));
  }

  /** The sequence flows drawn: [{id, source, target}]. */
  flows() {
    return this.viewer
      .get('elementRegistry')
      .filter((e) => e.type === 'bpmn:SequenceFlow')
      .map((e) => ({ id: e.id, source: e.businessObject.sourceRef?.id, target: e.businessObject.targetRef?.id }));
  }

  /** Replaces every marker and overlay with these: `marks` [{id, cls}], `overlays` [{id, el, position?}]. */
  decorate(marks, overlays) {
    const canvas = this.viewer.get('canvas');
    for (const m of this.markers) canvas.removeMarker(m.id, m.cls);
    this.markers = [];
    for (const m of marks) {
      if (!this.has(m.id)) continue;
      canvas.addMarker(m.id, m.cls);
      this.markers.push(m);
    }
    const ov = this.viewer.get('overlays');
    ov.remove({ type: 'sluice' });
    for (const o of overlays) {
      if (!this.has(o.id)) continue;
      ov.add(o.id, 'sluice', { position: o.position || { top: -12, right: 12 }, html: o.el });
    }
  }

  destroy() {
    this.viewer.destroy();
  }
}
