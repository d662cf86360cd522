// The diagram: bpmn-js's prebuilt navigated viewer (the global `BpmnJS` of its script), with
// markers and overlays on elements. A model without a diagram (no BPMNDI shapes) is laid out with
// bpmn-auto-layout first, so every model can be shown.
import { layoutProcess } from 'bpmn-auto-layout';

const DI = 'http://www.omg.org/spec/BPMN/20100524/DI';

/** Whether the XML has diagram shapes to draw. */
export function hasDiagram(xml) {
  const doc = new DOMParser().parseFromString(xml, 'application/xml');
  if (doc.getElementsByTagName('parsererror').length > 0) return false;
  return doc.getElementsByTagNameNS(DI, 'BPMNShape').length > 0;
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

  /** Shows `xml` (laid out first when it has no diagram). Throws when bpmn-js cannot read it. */
  async show(xml) {
    let source = xml;
    if (!hasDiagram(xml)) {
      source = await layoutProcess(xml);
      this.laidOut = true;
    }
    await this.viewer.importXML(source);
    this.viewer.get('canvas').zoom('fit-viewport', 'auto');
  }

  has(id) {
    return Boolean(id && this.viewer.get('elementRegistry').get(id));
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
