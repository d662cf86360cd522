#!/usr/bin/env python3
"""Structural checks for the example BPMN models in this folder.

Usage: python3 processes/check_models.py [FILE.bpmn ...]   (default: every *.bpmn beside this script)

Checks what `sluice check` does not care about but a bpmn-js user does, plus the references the
engine needs: well-formed XML with the expected header and namespaces, unique ids, every
sourceRef/targetRef/attachedToRef/messageRef/errorRef/signalRef/calledElement/default resolving,
incoming/outgoing children matching the sequence flows, Sluice connector inputs, and a complete,
tidy diagram (a shape for every flow node, an edge for every flow, boundary events on their host's
border, expanded sub-processes that hold their content, no overlapping shapes, no flow crossing an
unrelated shape, edges that start and end on their shapes).
Exit status 0 when every file passes, 1 otherwise. Standard library only.
"""
import glob
import os
import re
import sys
import xml.dom.minidom
import xml.etree.ElementTree as ET

BPMN = 'http://www.omg.org/spec/BPMN/20100524/MODEL'
BPMNDI = 'http://www.omg.org/spec/BPMN/20100524/DI'
DC = 'http://www.omg.org/spec/DD/20100524/DC'
DI = 'http://www.omg.org/spec/DD/20100524/DI'
XSI = 'http://www.w3.org/2001/XMLSchema-instance'
SLUICE = 'urn:sluice:bpmn:1'
REQUIRED_NS = {'bpmn': BPMN, 'bpmndi': BPMNDI, 'dc': DC, 'di': DI, 'xsi': XSI, 'sluice': SLUICE}

FLOW_NODES = {
    'startEvent', 'endEvent', 'intermediateCatchEvent', 'intermediateThrowEvent', 'boundaryEvent',
    'task', 'userTask', 'manualTask', 'serviceTask', 'sendTask', 'receiveTask', 'scriptTask',
    'businessRuleTask', 'callActivity', 'subProcess', 'transaction',
    'exclusiveGateway', 'parallelGateway', 'inclusiveGateway', 'eventBasedGateway', 'complexGateway',
}
ACTIVITIES = {'task', 'userTask', 'manualTask', 'serviceTask', 'sendTask', 'receiveTask', 'scriptTask',
              'businessRuleTask', 'callActivity', 'subProcess', 'transaction'}
CONDITIONAL_GATEWAYS = {'exclusiveGateway', 'inclusiveGateway'}
SNAKE = re.compile(r'^[a-z][a-z0-9_]*$')
ISO_DURATION = re.compile(r'^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$')
ISO_CYCLE = re.compile(r'^R\d*/(P.+|\d{4}-.+/P.+)$')
ISO_DATE = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})$')
CONNECTOR_INPUTS = {'slack-notification': {'channel', 'message'}, 'http': {'method', 'url'}}
TOLERANCE = 1.5


def local(tag):
    return tag.rsplit('}', 1)[-1]


def ns(tag):
    return tag[1:].split('}')[0] if tag.startswith('{') else ''


class Box:
    def __init__(self, x, y, w, h):
        self.x, self.y, self.w, self.h = x, y, w, h
        self.r, self.b = x + w, y + h
        self.cx, self.cy = x + w / 2, y + h / 2

    def overlaps(self, o):
        return self.x < o.r and o.x < self.r and self.y < o.b and o.y < self.b

    def contains(self, o):
        return self.x <= o.x and o.r <= self.r and self.y <= o.y and o.b <= self.b

    def on_border(self, px, py, tol=TOLERANCE):
        inside = self.x - tol <= px <= self.r + tol and self.y - tol <= py <= self.b + tol
        near = min(abs(px - self.x), abs(px - self.r), abs(py - self.y), abs(py - self.b)) <= tol
        return inside and near


def point_touches(box, kind, px, py):
    """Whether a waypoint docks on a shape: on the border (or within a round shape's box)."""
    if kind.endswith('Event') or kind.endswith('Gateway'):
        # Round and diamond shapes: accept any point on or inside the bounding box near its outline.
        return box.x - TOLERANCE <= px <= box.r + TOLERANCE and box.y - TOLERANCE <= py <= box.b + TOLERANCE
    return box.on_border(px, py)


def segment_crosses(p, q, box, margin=1.0):
    """Whether segment p-q passes through the interior of box (shrunk by margin)."""
    x0, y0, x1, y1 = box.x + margin, box.y + margin, box.r - margin, box.b - margin
    if x0 >= x1 or y0 >= y1:
        return False
    (px, py), (qx, qy) = p, q
    # Liang-Barsky clipping
    dx, dy = qx - px, qy - py
    t0, t1 = 0.0, 1.0
    for pk, qk in ((-dx, px - x0), (dx, x1 - px), (-dy, py - y0), (dy, y1 - py)):
        if pk == 0:
            if qk < 0:
                return False
        else:
            t = qk / pk
            if pk < 0:
                t0 = max(t0, t)
            else:
                t1 = min(t1, t)
    return t0 < t1


class Checker:
    def __init__(self, path, all_process_ids):
        self.path = path
        self.errors = []
        self.all_process_ids = all_process_ids

    def err(self, msg, el=None):
        where = ''
        if el is not None and el.get('id'):
            where = f' ({el.get("id")})'
        self.errors.append(f'{os.path.basename(self.path)}: {msg}{where}')

    def run(self):
        with open(self.path, 'rb') as f:
            raw = f.read()
        try:
            xml.dom.minidom.parseString(raw)
        except Exception as e:  # noqa: BLE001 - any parse failure is the finding
            self.err(f'not well-formed XML: {e}')
            return self.errors
        text = raw.decode('utf-8')
        if not text.startswith('<?xml version="1.0" encoding="UTF-8"?>'):
            self.err('first line must be <?xml version="1.0" encoding="UTF-8"?>')
        root = ET.fromstring(raw)
        self.check_header(root, text)
        self.ids = {}
        for el in root.iter():
            i = el.get('id')
            if i is None:
                continue
            if i in self.ids:
                self.err(f'duplicate id {i!r}')
            self.ids[i] = el
        self.roots = {local(e.tag): [] for e in root}
        for e in root:
            self.roots.setdefault(local(e.tag), []).append(e)
        processes = [e for e in root if e.tag == f'{{{BPMN}}}process']
        if not any(p.get('isExecutable') == 'true' for p in processes):
            self.err('no process with isExecutable="true"')
        self.nodes = {}    # id -> (element, process, parent container element)
        self.flows = {}    # id -> (element, process, container)
        for p in processes:
            self.check_process_header(p)
            self.collect(p, p, p)
        for p in processes:
            self.check_semantics(p)
        self.check_di(root, processes)
        return self.errors

    # -- header ----------------------------------------------------------
    def check_header(self, root, text):
        if root.tag != f'{{{BPMN}}}definitions':
            self.err('root element must be bpmn:definitions')
        head = text[:text.find('>', text.find('<bpmn:definitions')) + 1]
        for prefix, uri in REQUIRED_NS.items():
            if f'xmlns:{prefix}="{uri}"' not in head:
                self.err(f'bpmn:definitions lacks xmlns:{prefix}="{uri}"')
        for attr in ('id', 'targetNamespace'):
            if not root.get(attr):
                self.err(f'bpmn:definitions lacks {attr}')
        if root.get('exporter') != 'Sluice':
            self.err('bpmn:definitions must have exporter="Sluice"')

    def check_process_header(self, p):
        if not SNAKE.match(p.get('id', '')):
            self.err('process id must be a snake_case process key', p)
        if not p.get('name'):
            self.err('process has no name', p)

    def collect(self, container, process, parent):
        for el in container:
            kind = local(el.tag)
            if ns(el.tag) != BPMN:
                continue
            if kind in FLOW_NODES:
                self.nodes[el.get('id')] = (el, process, parent)
                if not SNAKE.match(el.get('id') or ''):
                    self.err(f'{kind} id is not snake_case', el)
                if kind in ('subProcess', 'transaction'):
                    self.collect(el, process, el)
            elif kind == 'sequenceFlow':
                self.flows[el.get('id')] = (el, process, parent)
                if not el.get('id'):
                    self.err('sequenceFlow without id')

    # -- semantics ---------------------------------------------------------
    def root_ref(self, el, attr, kind):
        ref = el.get(attr)
        target = self.ids.get(ref)
        if ref is None:
            return None
        if target is None or local(target.tag) != kind:
            self.err(f'{attr}={ref!r} does not name a bpmn:{kind}', el)
            return None
        return target

    def check_semantics(self, process):
        pid = process.get('id')
        incoming, outgoing = {}, {}
        for fid, (f, proc, parent) in self.flows.items():
            if proc is not process:
                continue
            for attr, table in (('sourceRef', outgoing), ('targetRef', incoming)):
                ref = f.get(attr)
                if ref not in self.nodes:
                    self.err(f'{attr}={ref!r} does not name a flow node', f)
                    continue
                node, nproc, nparent = self.nodes[ref]
                if nproc is not process or nparent is not parent:
                    self.err(f'{attr}={ref!r} is not in the same scope as the flow', f)
                table.setdefault(ref, []).append(fid)
        link_throws, link_catches = {}, {}
        for nid, (n, proc, parent) in self.nodes.items():
            if proc is not process:
                continue
            kind = local(n.tag)
            declared_in = [c.text.strip() for c in n if c.tag == f'{{{BPMN}}}incoming']
            declared_out = [c.text.strip() for c in n if c.tag == f'{{{BPMN}}}outgoing']
            if sorted(declared_in) != sorted(incoming.get(nid, [])):
                self.err(f'incoming children {declared_in} do not match flows {incoming.get(nid, [])}', n)
            if sorted(declared_out) != sorted(outgoing.get(nid, [])):
                self.err(f'outgoing children {declared_out} do not match flows {outgoing.get(nid, [])}', n)
            if not n.get('name') and kind not in ('exclusiveGateway', 'parallelGateway', 'inclusiveGateway',
                                                   'startEvent'):
                self.err(f'{kind} has no name', n)
            # gateways and defaults
            default = n.get('default')
            outs = outgoing.get(nid, [])
            if default is not None:
                if default not in outs:
                    self.err(f'default={default!r} is not an outgoing flow of this element', n)
                elif self.flows[default][0].find(f'{{{BPMN}}}conditionExpression') is not None:
                    self.err(f'default flow {default!r} must not have a condition', n)
            if kind in CONDITIONAL_GATEWAYS and len(outs) > 1:
                for fid in outs:
                    if fid != default and self.flows[fid][0].find(f'{{{BPMN}}}conditionExpression') is None:
                        self.err(f'flow {fid!r} leaves a diverging {kind} without a condition', n)
            if kind == 'parallelGateway' or kind == 'eventBasedGateway':
                for fid in outs:
                    if self.flows[fid][0].find(f'{{{BPMN}}}conditionExpression') is not None:
                        self.err(f'flow {fid!r} leaving a {kind} must not have a condition', n)
            if kind == 'eventBasedGateway':
                for fid in outs:
                    t = self.nodes.get(self.flows[fid][0].get('targetRef'))
                    if t and local(t[0].tag) not in ('intermediateCatchEvent', 'receiveTask'):
                        self.err(f'event-based gateway flow {fid!r} must lead to a catch event', n)
            # flow-less nodes
            if kind == 'startEvent' and incoming.get(nid):
                self.err('start event with incoming flow', n)
            if kind == 'endEvent' and outs:
                self.err('end event with outgoing flow', n)
            if kind not in ('startEvent', 'boundaryEvent', 'subProcess') and not incoming.get(nid) and not (
                    kind == 'intermediateCatchEvent' and n.find(f'{{{BPMN}}}linkEventDefinition') is not None):
                self.err(f'{kind} has no incoming flow', n)
            if kind == 'subProcess' and n.get('triggeredByEvent') != 'true' and not incoming.get(nid):
                self.err('sub-process has no incoming flow', n)
            if kind == 'subProcess' and n.get('triggeredByEvent') == 'true':
                if incoming.get(nid) or outs:
                    self.err('event sub-process must not have sequence flows', n)
                starts = [c for c in n if c.tag == f'{{{BPMN}}}startEvent']
                if len(starts) != 1 or not any(local(c.tag).endswith('EventDefinition') for c in starts[0]):
                    self.err('event sub-process needs exactly one start event with an event definition', n)
            if kind not in ('endEvent',) and not outs and kind != 'intermediateThrowEvent' \
                    and not (kind == 'subProcess' and n.get('triggeredByEvent') == 'true'):
                self.err(f'{kind} has no outgoing flow', n)
            if kind == 'boundaryEvent':
                host = self.nodes.get(n.get('attachedToRef'))
                if host is None or local(host[0].tag) not in ACTIVITIES:
                    self.err(f'attachedToRef={n.get("attachedToRef")!r} does not name an activity', n)
                elif host[2] is not parent:
                    self.err('boundary event is not in the same scope as its activity', n)
            if kind == 'callActivity':
                called = n.get('calledElement')
                if not called:
                    self.err('call activity without calledElement', n)
                elif called not in self.all_process_ids:
                    self.err(f'calledElement={called!r} names no process in this folder', n)
            if kind == 'receiveTask':
                self.root_ref(n, 'messageRef', 'message')
            if kind == 'serviceTask':
                self.check_connector(n)
            if kind == 'scriptTask':
                if n.get('scriptFormat') != 'feel':
                    self.err('script task must have scriptFormat="feel"', n)
                if not n.get(f'{{{SLUICE}}}resultVariable'):
                    self.err('script task lacks sluice:resultVariable', n)
                s = n.find(f'{{{BPMN}}}script')
                if s is None or not (s.text or '').strip():
                    self.err('script task has no script', n)
            if kind == 'callActivity' or kind in ACTIVITIES:
                mi = n.find(f'{{{BPMN}}}multiInstanceLoopCharacteristics')
                if mi is not None and not mi.get(f'{{{SLUICE}}}collection') and \
                        mi.find(f'{{{BPMN}}}loopCardinality') is None:
                    self.err('multi-instance needs sluice:collection or loopCardinality', n)
            # event definitions
            for d in n:
                dk = local(d.tag)
                if dk == 'messageEventDefinition':
                    self.root_ref(d, 'messageRef', 'message')
                elif dk == 'errorEventDefinition':
                    if d.get('errorRef'):
                        self.root_ref(d, 'errorRef', 'error')
                    elif kind == 'endEvent':
                        self.err('error end event without errorRef', n)
                elif dk == 'signalEventDefinition':
                    self.root_ref(d, 'signalRef', 'signal')
                elif dk == 'escalationEventDefinition':
                    self.root_ref(d, 'escalationRef', 'escalation')
                elif dk == 'timerEventDefinition':
                    self.check_timer(n, d)
                elif dk == 'linkEventDefinition':
                    table = link_throws if kind == 'intermediateThrowEvent' else link_catches
                    table.setdefault((id(parent), d.get('name')), []).append(n)
        for key, throws in link_throws.items():
            if len(link_catches.get(key, [])) != 1:
                self.err(f'link {key[1]!r} needs exactly one catching link event in the same scope', throws[0])
        for key, catches in link_catches.items():
            if key not in link_throws:
                self.err(f'link {key[1]!r} is caught but never thrown', catches[0])
        for m in self.roots.get('message', []):
            if not m.get('name'):
                self.err('message without name', m)
        for e in self.roots.get('error', []):
            if not e.get('errorCode'):
                self.err('error without errorCode', e)
        _ = pid

    def check_timer(self, n, d):
        parts = [c for c in d if ns(c.tag) == BPMN]
        if len(parts) != 1:
            self.err('timer needs exactly one of timeDuration, timeDate, timeCycle', n)
            return
        kind, value = local(parts[0].tag), (parts[0].text or '').strip()
        if value.startswith('='):
            return  # an expression, checked by the engine
        ok = {'timeDuration': ISO_DURATION, 'timeCycle': ISO_CYCLE, 'timeDate': ISO_DATE}[kind].match(value)
        if not ok:
            self.err(f'{kind} {value!r} is not ISO 8601', n)

    def check_connector(self, n):
        impl = n.get('implementation')
        if not impl:
            self.err('service task without implementation (connector type)', n)
            return
        ext = n.find(f'{{{BPMN}}}extensionElements')
        inputs = {}
        if ext is not None:
            for i in ext.findall(f'{{{SLUICE}}}input'):
                inputs[i.get('name')] = i.get('value') if i.get('value') is not None else (i.text or '')
        for required in CONNECTOR_INPUTS.get(impl, set()):
            if not (inputs.get(required) or '').strip():
                self.err(f'{impl} connector lacks input {required!r}', n)
        for name, value in inputs.items():
            if value.count('{{') != value.count('}}'):
                self.err(f'input {name!r} has unbalanced {{{{ }}}}', n)

    # -- diagram -----------------------------------------------------------
    def check_di(self, root, processes):
        diagrams = root.findall(f'{{{BPMNDI}}}BPMNDiagram')
        if not diagrams:
            self.err('no bpmndi:BPMNDiagram')
            return
        shapes, edges = {}, {}
        for dgm in diagrams:
            plane = dgm.find(f'{{{BPMNDI}}}BPMNPlane')
            if plane is None:
                self.err('BPMNDiagram without BPMNPlane', dgm)
                continue
            if plane.get('bpmnElement') not in self.ids:
                self.err(f'BPMNPlane bpmnElement={plane.get("bpmnElement")!r} does not resolve', plane)
            for s in plane.findall(f'{{{BPMNDI}}}BPMNShape'):
                ref = s.get('bpmnElement')
                if ref not in self.ids:
                    self.err(f'BPMNShape for unknown element {ref!r}', s)
                    continue
                if ref in shapes:
                    self.err(f'two shapes for {ref!r}', s)
                b = s.find(f'{{{DC}}}Bounds')
                if b is None:
                    self.err('BPMNShape without dc:Bounds', s)
                    continue
                shapes[ref] = (s, Box(*(float(b.get(k)) for k in ('x', 'y', 'width', 'height'))))
            for e in plane.findall(f'{{{BPMNDI}}}BPMNEdge'):
                ref = e.get('bpmnElement')
                if ref not in self.ids:
                    self.err(f'BPMNEdge for unknown element {ref!r}', e)
                    continue
                pts = [(float(w.get('x')), float(w.get('y'))) for w in e.findall(f'{{{DI}}}waypoint')]
                if len(pts) < 2:
                    self.err(f'edge for {ref!r} has fewer than 2 waypoints', e)
                    continue
                edges[ref] = pts
        # participants (pools) must hold their process's shapes
        pools = {}
        for collab in self.roots.get('collaboration', []):
            for part in collab.findall(f'{{{BPMN}}}participant'):
                if part.get('processRef') not in {p.get('id') for p in processes}:
                    self.err(f'participant processRef={part.get("processRef")!r} does not resolve', part)
                if part.get('id') not in shapes:
                    self.err('participant has no shape', part)
                else:
                    pools[part.get('processRef')] = shapes[part.get('id')][1]
        for nid, (n, proc, parent) in self.nodes.items():
            if nid not in shapes:
                self.err('flow node has no BPMNShape', n)
                continue
            s, box = shapes[nid]
            kind = local(n.tag)
            if kind == 'subProcess' and s.get('isExpanded') != 'true':
                self.err('sub-process shape must have isExpanded="true"', n)
            if parent is not proc and parent.get('id') in shapes and kind != 'boundaryEvent':
                if not shapes[parent.get('id')][1].contains(box):
                    self.err(f'shape lies outside its sub-process {parent.get("id")!r}', n)
            if proc.get('id') in pools and not pools[proc.get('id')].contains(box):
                self.err('shape lies outside its pool', n)
            if kind == 'boundaryEvent':
                host = shapes.get(n.get('attachedToRef'))
                if host and not host[1].on_border(box.cx, box.cy):
                    self.err('boundary event is not centred on its activity\'s border', n)
            label = s.find(f'{{{BPMNDI}}}BPMNLabel/{{{DC}}}Bounds')
            if label is not None:
                lb = Box(*(float(label.get(k)) for k in ('x', 'y', 'width', 'height')))
                for oid, (os_, ob) in shapes.items():
                    okind = local(self.ids[oid].tag)
                    if okind in ('subProcess', 'participant', 'transaction'):
                        continue
                    if lb.overlaps(ob):
                        self.err(f'label overlaps shape {oid!r}', n)
        for fid, (f, proc, parent) in self.flows.items():
            if fid not in edges:
                self.err('sequence flow has no BPMNEdge', f)
        self.check_overlaps(shapes)
        self.check_edges(shapes, edges)

    def container_chain(self, nid):
        chain = set()
        entry = self.nodes.get(nid)
        while entry is not None:
            parent = entry[2]
            if parent is entry[1]:
                break
            chain.add(parent.get('id'))
            entry = self.nodes.get(parent.get('id'))
        return chain

    def check_overlaps(self, shapes):
        ids = [i for i in shapes if i in self.nodes]
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1:]:
                ba, bb = shapes[a][1], shapes[b][1]
                if not ba.overlaps(bb):
                    continue
                na, nb = self.nodes[a][0], self.nodes[b][0]
                if na.get('attachedToRef') == b or nb.get('attachedToRef') == a:
                    continue
                if a in self.container_chain(b) or b in self.container_chain(a):
                    continue
                # a boundary event on a sub-process border overlaps the sub-process's children only if badly placed
                self.err(f'shapes of {a!r} and {b!r} overlap')

    def check_edges(self, shapes, edges):
        for fid, pts in edges.items():
            if fid not in self.flows:
                continue
            f = self.flows[fid][0]
            src, tgt = f.get('sourceRef'), f.get('targetRef')
            if src in shapes and not point_touches(shapes[src][1], local(self.ids[src].tag), *pts[0]):
                self.err(f'edge does not start on the shape of {src!r}', f)
            if tgt in shapes and not point_touches(shapes[tgt][1], local(self.ids[tgt].tag), *pts[-1]):
                self.err(f'edge does not end on the shape of {tgt!r}', f)
            for i in range(len(pts) - 1):
                p, q = pts[i], pts[i + 1]
                if p[0] != q[0] and p[1] != q[1]:
                    self.err(f'edge segment {p}->{q} is not horizontal or vertical', f)
            skip = {src, tgt} | self.container_chain(src) | self.container_chain(tgt)
            src_el = self.nodes.get(src, (None,))[0]
            if src_el is not None and src_el.get('attachedToRef'):
                skip.add(src_el.get('attachedToRef'))
            for oid, (s, box) in shapes.items():
                if oid in skip or oid not in self.nodes:
                    continue
                for i in range(len(pts) - 1):
                    if segment_crosses(pts[i], pts[i + 1], box):
                        self.err(f'edge crosses the shape of {oid!r}', f)
                        break


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    files = argv[1:] or sorted(glob.glob(os.path.join(here, '*.bpmn')))
    if not files:
        print('no .bpmn files found')
        return 1
    # processes defined anywhere in the checked folder(s) can be called
    all_ids = set()
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    for folder in folders:
        for f in glob.glob(os.path.join(folder, '*.bpmn')):
            try:
                for p in ET.parse(f).getroot().iter(f'{{{BPMN}}}process'):
                    all_ids.add(p.get('id'))
            except ET.ParseError:
                pass
    failed = 0
    for f in files:
        errors = Checker(f, all_ids).run()
        if errors:
            failed += 1
            for e in errors:
                print(e)
        else:
            print(f'{os.path.basename(f)}: ok')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
