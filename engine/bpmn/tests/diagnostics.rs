//! Data-driven importer tests: small models in, rendered diagnostics (or model facts) out.
//!
//! Update the expectations with `UPDATE_EXPECT=1 cargo test -p sluice-bpmn`, then review them.
#![allow(clippy::unwrap_used)]

use expect_test::{Expect, expect};
use serde_json::{Map, Value};
use sluice_bpmn::*;

const HEAD: &str = r#"<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" xmlns:pm="http://processmaker.com/BPMN/2.0/Schema.xsd" xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:zeebe="http://camunda.org/schema/zeebe/1.0" id="defs">"#;

/// An executable process `p` around `body`; the body starts on line 3.
fn exec(body: &str) -> String {
    format!("{HEAD}\n<bpmn:process id=\"p\" isExecutable=\"true\">\n{body}\n</bpmn:process>\n</bpmn:definitions>\n")
}

fn render(imported: &Imported) -> String {
    imported
        .diagnostics
        .iter()
        .map(|d| {
            let sev = if d.is_error() { "error" } else { "warning" };
            let el = d.element.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
            format!("{}:{} {sev}[{}] {}{el}\n", d.pos.line, d.pos.column, d.code, d.message)
        })
        .collect()
}

fn import_one(xml: &[u8]) -> Imported {
    import(&[Source { name: "t.bpmn", bytes: xml }], &Options::default())
}

fn check(xml: &str, want: Expect) {
    want.assert_eq(&render(&import_one(xml.as_bytes())));
}

fn check_bytes(xml: &[u8], want: Expect) {
    want.assert_eq(&render(&import_one(xml)));
}

fn process(xml: &str) -> std::sync::Arc<Process> {
    let imported = import_one(xml.as_bytes());
    assert!(!imported.has_errors(), "{}", render(&imported));
    imported.definitions.processes[0].clone()
}

fn element<'p>(p: &'p Process, id: &str) -> &'p Element {
    p.element(p.element_by_id(id).unwrap())
}

const LINE: &str = r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/><bpmn:userTask id="t"/><bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>"#;

#[test]
fn clean_model() {
    check(&exec(LINE), expect![[""]]);
    let p = process(&exec(LINE));
    assert_eq!(p.elements.len(), 3);
    assert_eq!(p.flows.len(), 2);
    assert!(matches!(element(&p, "t").kind, Kind::Task(TaskKind::User)));
    assert_eq!(element(&p, "t").pos, Pos { line: 3, column: 82 });
}

#[test]
fn xml_syntax() {
    check(
        &format!("{HEAD}\n<bpmn:process id=\"p\">\n  <bpmn:task id=\"a\">\n</bpmn:process>\n</bpmn:definitions>\n"),
        expect![[r#"
            4:1 error[xml-syntax] malformed XML: ill-formed document: expected `</bpmn:task>`, but `</bpmn:process>` was found
        "#]],
    );
    check(
        "<a><b></a>",
        expect![[r#"
        1:7 error[xml-syntax] malformed XML: ill-formed document: expected `</b>`, but `</a>` was found
    "#]],
    );
    check(
        "",
        expect![[r#"
        1:1 error[xml-syntax] the file holds no XML element
    "#]],
    );
    check(
        "<root/>",
        expect![[r#"
        1:1 error[not-bpmn] the root element is `root`, not BPMN `definitions` (namespace http://www.omg.org/spec/BPMN/20100524/MODEL)
    "#]],
    );
}

#[test]
fn doctype_refused() {
    check(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE lol [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;\">]>\n<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">&lol2;</bpmn:definitions>",
        expect![[r#"
            2:1 error[doctype-not-allowed] a DOCTYPE (and with it entity declarations) is not allowed in BPMN files; remove it
        "#]],
    );
}

#[test]
fn deep_nesting_refused() {
    let mut xml = String::from(HEAD);
    xml.push('\n');
    for _ in 0..300 {
        xml.push_str("<x>");
    }
    check(
        &xml,
        expect![[r#"
        2:766 error[too-deeply-nested] elements are nested more than 256 deep; the rest of the file is not read
    "#]],
    );
}

#[test]
fn encodings() {
    // BOM, CRLF, and a position after a multi-byte character.
    let mut bom = vec![0xEF, 0xBB, 0xBF];
    bom.extend_from_slice(
        exec("<bpmn:task id=\"é\" name=\"x\"/><bpmn:sequenceFlow sourceRef=\"é\" targetRef=\"nope\"/>")
            .replace('\n', "\r\n")
            .as_bytes(),
    );
    check_bytes(
        &bom,
        expect![[r#"
        3:73 error[dangling-reference] sequence flow from `é` to `nope` points to `nope`, which does not exist (é->nope)
    "#]],
    );
    // Latin-1 and windows-1252 declarations.
    let latin1 = format!(
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n{}",
        exec("<bpmn:task id=\"t\" name=\"caf\u{FFFD}\"/>")
    )
    .replace('\u{FFFD}', "\u{1}");
    let mut bytes = latin1.into_bytes();
    for b in &mut bytes {
        if *b == 1 {
            *b = 0xE9;
        }
    }
    let imported = import_one(&bytes);
    assert_eq!(render(&imported), "");
    assert_eq!(imported.definitions.processes[0].elements[0].name.as_deref(), Some("café"));
    let mut cp =
        format!("<?xml version=\"1.0\" encoding=\"windows-1252\"?>\n{}", exec("<bpmn:task id=\"t\" name=\"X\"/>"))
            .into_bytes();
    let at = cp.iter().rposition(|&b| b == b'X').unwrap();
    cp[at] = 0x80;
    let imported = import_one(&cp);
    assert_eq!(imported.definitions.processes[0].elements[0].name.as_deref(), Some("\u{20AC}"));
    // Bad UTF-8, and encodings Sluice does not read.
    check_bytes(
        b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a>\n  caf\xE9</a>",
        expect![[r#"
        2:1 error[not-bpmn] the root element is `a`, not BPMN `definitions` (namespace http://www.omg.org/spec/BPMN/20100524/MODEL)
        3:6 error[invalid-encoding] byte 0xE9 is not valid UTF-8, which the file declares (it looks like Latin-1: declare `encoding="ISO-8859-1"` or save the file as UTF-8)
    "#]],
    );
    check_bytes(
        b"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?>\n<a/>",
        expect![[r#"
        1:1 error[unsupported-encoding] encoding `Shift_JIS` is not supported; save the file as UTF-8
    "#]],
    );
    check_bytes(
        b"\xFF\xFE<\x00a\x00/\x00>\x00",
        expect![[r#"
        1:1 error[unsupported-encoding] encoding `UTF-16` is not supported; save the file as UTF-8
    "#]],
    );
    check_bytes(
        b"<?xml version=\"1.0\" encoding=\"US-ASCII\"?>\n<a>\xE9</a>",
        expect![[r#"
        2:1 error[not-bpmn] the root element is `a`, not BPMN `definitions` (namespace http://www.omg.org/spec/BPMN/20100524/MODEL)
        2:4 error[invalid-encoding] byte 0xE9 is not US-ASCII, as the XML declaration says the file is
    "#]],
    );
}

#[test]
fn html_entities() {
    let xml = exec(
        "<bpmn:task id=\"t\" name=\"a&nbsp;b&eacute;\"><bpmn:documentation>&hellip;&amp;&#160;</bpmn:documentation></bpmn:task>",
    );
    check(
        &xml,
        expect![[r#"
        3:26 warning[html-entity] `&nbsp;` is an HTML entity, not XML; read as U+00A0. Write `&#160;` to silence this
        3:33 warning[html-entity] `&eacute;` is an HTML entity, not XML; read as U+00E9. Write `&#233;` to silence this
        3:63 warning[html-entity] `&hellip;` is an HTML entity, not XML; read as U+2026. Write `&#8230;` to silence this
    "#]],
    );
    let p = process(&xml);
    assert_eq!(p.elements[0].name.as_deref(), Some("a\u{A0}bé"));
    check(
        &exec("<bpmn:task id=\"t\" name=\"&bogus;\"/>"),
        expect![[r#"
        3:25 error[undefined-entity] `&bogus;` is not defined in XML; write the character itself or a character reference
    "#]],
    );
}

#[test]
fn namespaces_by_uri() {
    // BPMN bound to an odd prefix, and a non-BPMN default namespace whose unprefixed children
    // (inside an extension and outside) must not be read as BPMN.
    let xml = r#"<sem:definitions xmlns:sem="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns="urn:other" id="d">
<sem:process id="p" isExecutable="true">
  <sem:startEvent id="s"/>
  <sem:sequenceFlow id="f" sourceRef="s" targetRef="t"/>
  <sem:task id="t"><sem:extensionElements><task id="fake"/></sem:extensionElements></sem:task>
  <task id="also-fake"/>
</sem:process>
</sem:definitions>"#;
    check(xml, expect![[""]]);
    let p = process(xml);
    assert_eq!(p.elements.len(), 2);
    // The `camunda` prefix bound to another URI is not Camunda.
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="t"/><bpmn:serviceTask id="t" xmlns:camunda="http://activiti.org/bpmn" camunda:class="x"/>"#,
    );
    check(
        &xml,
        expect![[r#"
        3:81 error[missing-implementation] service task `t` names no connector: set `implementation` to a connector type (t)
    "#]],
    );
}

#[test]
fn dangling_and_duplicates() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="task_9"/>
<bpmn:sequenceFlow sourceRef="ghost" targetRef="s"/>
<bpmn:task id="s"/>
<bpmn:boundaryEvent id="b" attachedToRef="nowhere"/>
<bpmn:intermediateCatchEvent id="m"><bpmn:messageEventDefinition messageRef="nomsg"/></bpmn:intermediateCatchEvent>"#,
        ),
        expect![[r#"
            4:53 error[dangling-reference] sequence flow `f1` points to `task_9`, which does not exist (f1)
            5:31 error[dangling-reference] sequence flow from `ghost` to `s` starts at `ghost`, which does not exist (ghost->s)
            6:16 error[duplicate-id] id `s` is used by more than one element in this file (s)
            7:43 error[dangling-reference] boundary event `b` is attached to `nowhere`, which does not exist in this process (b)
            8:78 error[dangling-reference] message event `m` refers to message `nomsg`, which does not exist in this file (m)
        "#]],
    );
    // Two processes with one key across an import.
    let a = exec(LINE);
    let imported = import(
        &[Source { name: "a.bpmn", bytes: a.as_bytes() }, Source { name: "b.bpmn", bytes: a.as_bytes() }],
        &Options::default(),
    );
    expect![[r#"
        b.bpmn:2:1: error[duplicate-process]: process `p` is defined more than once in this import (element p)
    "#]]
    .assert_eq(&imported.diagnostics.iter().map(|d| format!("{d}\n")).collect::<String>());
}

#[test]
fn starts_and_gateways() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="g"/><bpmn:exclusiveGateway id="g"/>"#,
        ),
        expect![[r#"
        3:81 error[gateway-without-outgoing] exclusive gateway `g` has no outgoing sequence flow (g)
    "#]],
    );
    check(
        &exec(
            r#"<bpmn:task id="a"/><bpmn:sequenceFlow id="f" sourceRef="a" targetRef="b"/><bpmn:task id="b"/><bpmn:sequenceFlow id="g" sourceRef="b" targetRef="a"/>"#,
        ),
        expect![[r#"
            2:1 error[no-start-event] process `p` has no start event (p)
            3:1 warning[unreachable-element] no token can ever reach `a` (a)
            3:75 warning[unreachable-element] no token can ever reach `b` (b)
        "#]],
    );
    check(
        &exec(""),
        expect![[r#"
        2:1 warning[empty-process] process `p` has no elements (p)
    "#]],
    );
    // An event sub-process needs exactly one triggered start event.
    check(
        &exec(&format!(
            r#"{LINE}<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="es"/></bpmn:subProcess>"#
        )),
        expect![[r#"
            3:234 error[invalid-event-subprocess] the start event `es` of event sub-process `esp` has no trigger; give it the message, timer, signal, error or escalation that starts the event sub-process (es)
        "#]],
    );
}

#[test]
fn unreachable_and_ignored_conditions() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="pg"/>
<bpmn:parallelGateway id="pg"/>
<bpmn:sequenceFlow id="f2" sourceRef="pg" targetRef="x"><bpmn:conditionExpression>a &gt; 1</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:exclusiveGateway id="x" default="f3"/>
<bpmn:sequenceFlow id="f3" sourceRef="x" targetRef="e"><bpmn:conditionExpression>b</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:endEvent id="e"/>
<bpmn:task id="island"/><bpmn:sequenceFlow id="f4" sourceRef="island" targetRef="island2"/><bpmn:task id="island2"/><bpmn:sequenceFlow id="f5" sourceRef="island2" targetRef="island"/>"#,
        ),
        expect![[r#"
            5:1 warning[gateway-pass-through] gateway `pg` neither splits nor joins (one flow in, one out); BPMN asks a gateway to do one or the other (pg)
            6:1 warning[condition-ignored] `f2` leaves parallel gateway `pg`, which ignores conditions (f2)
            7:1 warning[gateway-pass-through] gateway `x` neither splits nor joins (one flow in, one out); BPMN asks a gateway to do one or the other (x)
            8:1 warning[condition-ignored] `f3` is the default flow of `x`, so its condition is never evaluated (f3)
            10:1 warning[unreachable-element] no token can ever reach `island` (island)
            10:92 warning[unreachable-element] no token can ever reach `island2` (island2)
        "#]],
    );
}

#[test]
fn default_flows() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x"/>
<bpmn:exclusiveGateway id="x" default="f1"/>
<bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"/>
<bpmn:endEvent id="e"/>
<bpmn:task id="t" default="nope"/>"#,
        ),
        expect![[r#"
            5:1 warning[gateway-pass-through] gateway `x` neither splits nor joins (one flow in, one out); BPMN asks a gateway to do one or the other (x)
            5:40 error[invalid-default-flow] default flow of `x` is `f1`, which does not leave `x` (x)
            8:28 error[dangling-reference] default flow of `t` is `nope`, which does not exist (t)
        "#]],
    );
    let p = process(&exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x"/><bpmn:exclusiveGateway id="x" default="f3"/><bpmn:sequenceFlow id="f2" sourceRef="x" targetRef="e"><bpmn:conditionExpression>a</bpmn:conditionExpression></bpmn:sequenceFlow><bpmn:sequenceFlow id="f3" sourceRef="x" targetRef="e"/><bpmn:endEvent id="e"/>"#,
    ));
    let x = element(&p, "x");
    assert_eq!(x.default_flow.map(|f| p.flow(f).id.clone()), Some(Some("f3".to_string())));
}

#[test]
fn conditions() {
    // The error points into the expression text, CDATA and whitespace included.
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="x"/>
<bpmn:exclusiveGateway id="x"/>
<bpmn:sequenceFlow id="ok" sourceRef="x" targetRef="e"><bpmn:conditionExpression><![CDATA[
   ${amount > 100 && !blocked}
]]></bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow sourceRef="x" targetRef="e"><bpmn:conditionExpression>
    amount >
  </bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="js" sourceRef="x" targetRef="e"><bpmn:conditionExpression language="python">a</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:sequenceFlow id="juel" sourceRef="x" targetRef="e"><bpmn:conditionExpression language="javascript">${a == 1}</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:endEvent id="e"/>"#,
        ),
        expect![[r#"
            10:13 error[invalid-expression] condition of sequence flow from `x` to `e` is not a valid expression: expected a value but found the end of the expression (x->e)
            12:92 error[unsupported-expression-language] expression language `python` is not supported; write the condition in FEEL (js)
        "#]],
    );
}

#[test]
fn timers() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"><bpmn:timerEventDefinition><bpmn:timeCycle><![CDATA[ R3/PT10M ]]></bpmn:timeCycle></bpmn:timerEventDefinition></bpmn:startEvent>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c1"/>
<bpmn:intermediateCatchEvent id="c1"><bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="c1" targetRef="c2"/>
<bpmn:intermediateCatchEvent id="c2"><bpmn:timerEventDefinition><bpmn:timeDate>=deadline</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f3" sourceRef="c2" targetRef="c3"/>
<bpmn:intermediateCatchEvent id="c3"><bpmn:timerEventDefinition><bpmn:timeDate>2026-12-01T09:00:00Z</bpmn:timeDate></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
    );
    check(&xml, expect![[""]]);
    let p = process(&xml);
    assert!(matches!(
        element(&p, "s").kind,
        Kind::StartEvent { trigger: Trigger::Timer(Timer::Fixed(TimerSpec::Cycle(_))), .. }
    ));
    assert!(matches!(
        element(&p, "c1").kind,
        Kind::CatchEvent { trigger: Trigger::Timer(Timer::Fixed(TimerSpec::Duration(_))) }
    ));
    assert!(matches!(
        element(&p, "c2").kind,
        Kind::CatchEvent { trigger: Trigger::Timer(Timer::Expr { kind: TimerKind::Date, .. }) }
    ));
    check(
        &exec(
            r#"<bpmn:startEvent id="s"><bpmn:timerEventDefinition><bpmn:timeDuration>five minutes</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent>
<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeDuration>=(</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
        ),
        expect![[r#"
            3:71 error[invalid-timer] timer of `s`: `five minutes` is not valid: `five minutes` is not an ISO 8601 duration: it must start with P (expected e.g. PT5M, P1D or P1Y2M3DT4H) (s)
            4:85 error[invalid-expression] timer of `c` is not a valid expression: expected a value but found the end of the expression (c)
        "#]],
    );
}

#[test]
fn a_literal_negative_duration_is_refused() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="c"/>
<bpmn:intermediateCatchEvent id="c"><bpmn:timerEventDefinition><bpmn:timeDuration> -PT5M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"#,
        ),
        expect![[r#"
            4:84 error[invalid-timer] timer of `c`: `-PT5M` is a negative duration: a timer waits forward in time (c)
        "#]],
    );
}

#[test]
fn error_refs() {
    let xml = format!(
        "{HEAD}\n<bpmn:error id=\"E1\" errorCode=\"OOPS\" name=\"Oops\"/><bpmn:error id=\"E2\" name=\"NoCode\"/>\n<bpmn:process id=\"p\" isExecutable=\"true\">\n{}\n</bpmn:process></bpmn:definitions>",
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/><bpmn:userTask id="t"/>
<bpmn:boundaryEvent id="b1" attachedToRef="t"><bpmn:errorEventDefinition errorRef="E1"/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="b2" attachedToRef="t"><bpmn:errorEventDefinition errorRef="E2"/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="b3" attachedToRef="t2"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="b4" attachedToRef="t"><bpmn:errorEventDefinition errorRef="MISSING"/></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="t2"/><bpmn:userTask id="t2"/>
<bpmn:sequenceFlow id="f3" sourceRef="t2" targetRef="e1"/><bpmn:endEvent id="e1"><bpmn:errorEventDefinition errorRef="E1"/></bpmn:endEvent>
<bpmn:endEvent id="e2"><bpmn:errorEventDefinition errorRef="E2"/></bpmn:endEvent>
<bpmn:endEvent id="e3"><bpmn:errorEventDefinition errorRef="RAW"/></bpmn:endEvent>"#
    );
    let p = process(&xml);
    let trig = |id: &str| match &element(&p, id).kind {
        Kind::BoundaryEvent { trigger: Trigger::Error(c), .. } => c.clone(),
        k => panic!("{k:?}"),
    };
    assert_eq!(trig("b1"), Some("OOPS".into()));
    assert_eq!(trig("b2"), None);
    assert_eq!(trig("b3"), None);
    assert_eq!(trig("b4"), Some("MISSING".into()));
    let thrown = |id: &str| match &element(&p, id).kind {
        Kind::EndEvent { result: Throw::Error { code, message } } => (code.clone(), message.clone()),
        k => panic!("{k:?}"),
    };
    assert_eq!(thrown("e1"), ("OOPS".into(), Some("Oops".into())));
    assert_eq!(thrown("e2"), ("NoCode".into(), Some("NoCode".into())));
    assert_eq!(thrown("e3"), ("RAW".into(), None));
    assert!(matches!(element(&p, "b1").kind, Kind::BoundaryEvent { interrupting: true, .. }));
}

#[test]
fn boundaries_links_event_gateways() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
<bpmn:eventBasedGateway id="g"/>
<bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="t"><bpmn:conditionExpression>x</bpmn:conditionExpression></bpmn:sequenceFlow>
<bpmn:userTask id="t"/>
<bpmn:boundaryEvent id="b" attachedToRef="g"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f3" sourceRef="t" targetRef="l"/>
<bpmn:intermediateThrowEvent id="l"><bpmn:linkEventDefinition name="jump"/></bpmn:intermediateThrowEvent>"#,
        ),
        expect![[r#"
            4:1 warning[event-gateway-shape] event-based gateway `g` has one outgoing sequence flow; it is meant to choose among two or more events (g)
            4:1 error[invalid-event-gateway] event-based gateway `g` leads to `t`, which is not a message, timer or signal catch event or a receive task (g)
            4:1 error[invalid-event-gateway] `f2` leaves event-based gateway `g` and must not have a condition (g)
            7:43 error[invalid-boundary] boundary event `b` is attached to `g` (a eventBasedGateway), but only activities can have boundary events (b)
            9:1 error[unmatched-link] link `jump` thrown by `l` has no catching link event in the same scope (l)
        "#]],
    );
}

#[test]
fn messages_and_unsupported() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="r"/>
<bpmn:receiveTask id="r"/>
<bpmn:sequenceFlow id="f2" sourceRef="r" targetRef="cg"/>
<bpmn:complexGateway id="cg"/>
<bpmn:sequenceFlow id="f3" sourceRef="cg" targetRef="st"/>
<bpmn:serviceTask id="st"/>
<bpmn:sequenceFlow id="f4" sourceRef="st" targetRef="sc"/>
<bpmn:scriptTask id="sc" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="f5" sourceRef="sc" targetRef="ca"/>
<bpmn:callActivity id="ca" calledElement="elsewhere"/>
<bpmn:sequenceFlow id="f6" sourceRef="ca" targetRef="tx"/>
<bpmn:transaction id="tx"/>"#,
        ),
        expect![[r#"
            4:1 error[missing-message] receive task `r` names no message: add `messageRef` pointing to a `message` (r)
            6:1 error[unsupported-element] complexGateway is not supported by Sluice; use an inclusive gateway (cg)
            8:1 error[missing-implementation] service task `st` names no connector: set `implementation` to a connector type (st)
            10:40 error[unsupported-script-format] script task `sc` is written in `groovy`; Sluice runs FEEL scripts only (sc)
            12:43 error[unknown-called-process] call activity `ca` calls process `elsewhere`, which is neither in this import nor deployed (ca)
            14:1 error[unsupported-element] transaction is not supported by Sluice; use a sub-process with error boundary events (tx)
        "#]],
    );
    // The same in a descriptive process: no errors at all.
    let xml = format!(
        "{HEAD}\n<bpmn:process id=\"p\" isExecutable=\"false\"><bpmn:receiveTask id=\"r\"/><bpmn:complexGateway id=\"cg\"/><bpmn:serviceTask id=\"st\"/><bpmn:callActivity id=\"ca\" calledElement=\"elsewhere\"/></bpmn:process></bpmn:definitions>"
    );
    check(&xml, expect![[""]]);
    // A known process from an earlier deploy is fine.
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="ca"/><bpmn:callActivity id="ca" calledElement="billing"/>"#,
    );
    let imported = import(
        &[Source { name: "t.bpmn", bytes: xml.as_bytes() }],
        &Options { known_processes: &["billing"], connectors: None, known_decisions: None },
    );
    assert_eq!(render(&imported), "");
}

#[test]
fn message_correlation() {
    let xml = format!(
        "{HEAD}\n<bpmn:message id=\"m1\" name=\"order-paid\" sluice:correlationKey=\"order.id\"/><bpmn:message id=\"m2\" name=\"shipped\"><bpmn:extensionElements><zeebe:subscription correlationKey=\"=orderId\"/></bpmn:extensionElements></bpmn:message><bpmn:message id=\"m3\"/>\n<bpmn:process id=\"p\" isExecutable=\"true\">\n{}\n</bpmn:process></bpmn:definitions>",
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="a"/>
<bpmn:intermediateCatchEvent id="a"><bpmn:messageEventDefinition messageRef="m1"/></bpmn:intermediateCatchEvent><bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/>
<bpmn:receiveTask id="b" messageRef="m2"/><bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="c"/>
<bpmn:sendTask id="c" messageRef="m3"/>"#
    );
    let p = process(&xml);
    match &element(&p, "a").kind {
        Kind::CatchEvent { trigger: Trigger::Message(m) } => {
            assert_eq!(m.name, "order-paid");
            assert!(m.correlation_key.is_some());
        }
        k => panic!("{k:?}"),
    }
    match &element(&p, "b").kind {
        Kind::Task(TaskKind::Receive(m)) => {
            assert_eq!((m.name.as_str(), m.correlation_key.is_some()), ("shipped", true))
        }
        k => panic!("{k:?}"),
    }
    match &element(&p, "c").kind {
        Kind::Task(TaskKind::SendMessage(m)) => {
            assert_eq!((m.name.as_str(), m.correlation_key.is_none()), ("m3", true))
        }
        k => panic!("{k:?}"),
    }
}

fn connector(p: &Process, id: &str) -> ConnectorCall {
    match &element(p, id).kind {
        Kind::Task(TaskKind::Connector(c)) => (**c).clone(),
        k => panic!("{k:?}"),
    }
}

#[test]
fn connector_inputs() {
    let xml = exec(
        r##"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="n"/>
<bpmn:serviceTask id="n" implementation="slack-notification">
  <bpmn:extensionElements>
    <sluice:input name="channel" value="#sales"/>
    <sluice:input name="message">
      New order {{ order_id }} &amp; more
    </sluice:input>
    <sluice:input name="result_variable" value="slack"/>
  </bpmn:extensionElements>
</bpmn:serviceTask>
<bpmn:sequenceFlow id="g" sourceRef="n" targetRef="z"/>
<bpmn:serviceTask id="z"><bpmn:extensionElements><zeebe:taskDefinition type="http-json"/></bpmn:extensionElements></bpmn:serviceTask>
<bpmn:sequenceFlow id="h" sourceRef="z" targetRef="pm"/>
<bpmn:serviceTask id="pm" implementation="slack-notification" pm:config="{&quot;channel&quot;: &quot;C0123&quot;, &quot;retries&quot;: 3}"/>"##,
    );
    let p = process(&xml);
    let c = connector(&p, "n");
    assert_eq!(c.connector, "slack-notification");
    assert_eq!(c.inputs.get("channel"), Some(&Value::String("#sales".into())));
    assert_eq!(c.inputs.get("message"), Some(&Value::String("New order {{ order_id }} & more".into())));
    assert_eq!(c.result_variable.as_deref(), Some("slack"));
    assert!(!c.inputs.contains_key("result_variable"));
    assert_eq!(connector(&p, "z").connector, "http-json");
    let c = connector(&p, "pm");
    assert_eq!(c.inputs.get("retries"), Some(&Value::from(3)));
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="pm"/><bpmn:serviceTask id="pm" implementation="x" pm:config="{not json"/>"#,
        ),
        expect![[r#"
            3:138 error[invalid-connector-config] `pm:config` of `pm` is not valid JSON: key must be a string at line 1 column 2 (pm)
        "#]],
    );
}

struct Catalog;
impl ConnectorCatalog for Catalog {
    fn validate(&self, connector: &str, inputs: &Map<String, Value>) -> Result<(), String> {
        match connector {
            "slack-notification" if inputs.contains_key("channel") => Ok(()),
            "slack-notification" => Err("missing required input `channel`".into()),
            other => Err(format!("unknown connector `{other}`")),
        }
    }
}

#[test]
fn connector_catalog() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:serviceTask id="a" implementation="slack-notification"/><bpmn:sequenceFlow id="g" sourceRef="a" targetRef="b"/>
<bpmn:sendTask id="b" implementation="smoke-signals"/>"#,
    );
    let imported = import(
        &[Source { name: "t.bpmn", bytes: xml.as_bytes() }],
        &Options { known_processes: &[], connectors: Some(&Catalog), known_decisions: None },
    );
    expect![[r#"
        4:1 error[invalid-connector] connector task `a` (`slack-notification`): missing required input `channel` (a)
        5:1 error[invalid-connector] connector task `b` (`smoke-signals`): unknown connector `smoke-signals` (b)
    "#]]
    .assert_eq(&render(&imported));
}

fn multi(p: &Process, id: &str) -> MultiInstance {
    match &element(p, id).looping {
        Some(Loop::Multi(m)) => m.clone(),
        l => panic!("{l:?}"),
    }
}

#[test]
fn multi_instance_variants() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:userTask id="a"><bpmn:multiInstanceLoopCharacteristics isSequential="true" sluice:collection="order.items" sluice:elementVariable="item" sluice:outputCollection="results" sluice:outputElement="item.price"><bpmn:completionCondition>${nrOfCompletedInstances/nrOfInstances >= 0.5}</bpmn:completionCondition></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="b"><bpmn:multiInstanceLoopCharacteristics camunda:collection="${assignees}" camunda:elementVariable="assignee"/></bpmn:userTask>
<bpmn:userTask id="c"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements><zeebe:loopCharacteristics inputCollection="=items" inputElement="item" outputCollection="out" outputElement="=result"/></bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="d"><bpmn:ioSpecification><bpmn:dataInput id="di" name="users"/></bpmn:ioSpecification><bpmn:multiInstanceLoopCharacteristics><bpmn:loopDataInputRef>di</bpmn:loopDataInputRef><bpmn:inputDataItem id="x" name="user"/><bpmn:loopDataOutputRef>do</bpmn:loopDataOutputRef><bpmn:outputDataItem id="row"/></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="e"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>3</bpmn:loopCardinality></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="g"><bpmn:standardLoopCharacteristics testBefore="true" loopMaximum="5"><bpmn:loopCondition>count &lt; 3</bpmn:loopCondition></bpmn:standardLoopCharacteristics></bpmn:userTask>
<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/><bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="c"/><bpmn:sequenceFlow id="f4" sourceRef="c" targetRef="d"/><bpmn:sequenceFlow id="f5" sourceRef="d" targetRef="e"/><bpmn:sequenceFlow id="f6" sourceRef="e" targetRef="g"/>"#,
    );
    let p = process(&xml);
    let a = multi(&p, "a");
    assert!(a.sequential && a.collection.is_some() && a.completion.is_some() && a.output_element.is_some());
    assert_eq!((a.element_variable.as_deref(), a.output_collection.as_deref()), (Some("item"), Some("results")));
    let b = multi(&p, "b");
    assert!(!b.sequential && b.collection.is_some());
    assert_eq!(b.element_variable.as_deref(), Some("assignee"));
    let c = multi(&p, "c");
    assert_eq!((c.element_variable.as_deref(), c.output_collection.as_deref()), (Some("item"), Some("out")));
    assert!(c.output_element.is_some());
    let d = multi(&p, "d");
    assert_eq!(d.collection.as_ref().map(|e| e.source().to_string()), Some("users".into()));
    assert_eq!((d.element_variable.as_deref(), d.output_collection.as_deref()), (Some("user"), Some("do")));
    assert_eq!(d.output_element.as_ref().map(|e| e.source().to_string()), Some("row".into()));
    assert!(multi(&p, "e").cardinality.is_some());
    assert!(matches!(
        &element(&p, "g").looping,
        Some(Loop::Standard { test_before: true, maximum: Some(5), condition: Some(_) })
    ));
}

#[test]
fn multi_instance_outputs_nothing_collects_are_warned() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:userTask id="a"><bpmn:multiInstanceLoopCharacteristics sluice:collection="items" sluice:outputElement="item.price"/></bpmn:userTask>
<bpmn:userTask id="b"><bpmn:multiInstanceLoopCharacteristics><bpmn:extensionElements><zeebe:loopCharacteristics inputCollection="=items" outputElement="=result"/></bpmn:extensionElements></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="c"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>2</bpmn:loopCardinality><bpmn:outputDataItem id="row"/></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="d"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>2</bpmn:loopCardinality><bpmn:loopDataOutputRef>rows</bpmn:loopDataOutputRef></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:userTask id="g"><bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>2</bpmn:loopCardinality><bpmn:loopDataOutputRef>rows</bpmn:loopDataOutputRef><bpmn:outputDataItem name="a b +"/></bpmn:multiInstanceLoopCharacteristics></bpmn:userTask>
<bpmn:sequenceFlow id="f2" sourceRef="a" targetRef="b"/><bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="c"/><bpmn:sequenceFlow id="f4" sourceRef="c" targetRef="d"/><bpmn:sequenceFlow id="f5" sourceRef="d" targetRef="g"/>"#,
    );
    check(
        &xml,
        expect![[r#"
        4:110 warning[multi-instance-output] multi-instance `a` has `sluice:outputElement` but no output collection: the instances' outputs are not collected (a)
        5:153 warning[multi-instance-output] multi-instance `b` has `outputElement` on `zeebe:loopCharacteristics` but no output collection: the instances' outputs are not collected (b)
        6:108 warning[multi-instance-output] multi-instance `c` has an `outputDataItem` but no output collection: the instances' outputs are not collected (c)
        7:108 warning[multi-instance-output] multi-instance `d` fills the output collection `rows` but names no `outputDataItem` (and no element variable) to collect: every item is null (d)
        8:193 error[invalid-expression] the name of the `outputDataItem` of `g` is not a valid expression: expected a value but found the end of the expression (g)
    "#]],
    );
}

#[test]
fn scripts() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:scriptTask id="a" scriptFormat="FEEL" sluice:resultVariable="total"><bpmn:script>sum(items)</bpmn:script></bpmn:scriptTask>
<bpmn:sequenceFlow id="g" sourceRef="a" targetRef="b"/>
<bpmn:scriptTask id="b"><bpmn:extensionElements><zeebe:script expression="=a + 1" resultVariable="r"/></bpmn:extensionElements></bpmn:scriptTask>"#,
    );
    let p = process(&xml);
    assert!(
        matches!(&element(&p, "a").kind, Kind::Task(TaskKind::Script { result_variable: Some(v), .. }) if v == "total")
    );
    assert!(
        matches!(&element(&p, "b").kind, Kind::Task(TaskKind::Script { result_variable: Some(v), .. }) if v == "r")
    );
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/><bpmn:scriptTask id="a" scriptFormat="javascript"><bpmn:script>x</bpmn:script></bpmn:scriptTask>"#,
        ),
        expect![[r#"
            3:119 error[unsupported-script-format] script task `a` is written in `javascript`; Sluice runs FEEL scripts only (a)
        "#]],
    );
}

#[test]
fn flows_without_ids_and_nested_scopes() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"><bpmn:outgoing>wrong</bpmn:outgoing></bpmn:startEvent>
<bpmn:sequenceFlow sourceRef="s" targetRef="sub"/>
<bpmn:subProcess id="sub">
  <bpmn:startEvent id="is"/><bpmn:sequenceFlow sourceRef="is" targetRef="it"/><bpmn:userTask id="it"/>
</bpmn:subProcess>
<bpmn:sequenceFlow sourceRef="sub" targetRef="e"/>
<bpmn:endEvent id="e"/>
<bpmn:sequenceFlow id="cross" sourceRef="s" targetRef="it"/>"#,
    );
    check(
        &xml,
        expect![[r#"
        10:1 error[cross-scope-flow] sequence flow `cross` connects `it`, which sits in another (sub-)process; flows cannot cross a sub-process border (cross)
    "#]],
    );
}

#[test]
fn several_problems_reported_at_once() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
<bpmn:inclusiveGateway id="g"/>
<bpmn:serviceTask id="st"/>
<bpmn:sequenceFlow id="f2" sourceRef="st" targetRef="nowhere"/>"#,
        ),
        expect![[r#"
            5:1 error[gateway-without-outgoing] inclusive gateway `g` has no outgoing sequence flow (g)
            6:1 error[missing-implementation] service task `st` names no connector: set `implementation` to a connector type (st)
            7:54 error[dangling-reference] sequence flow `f2` points to `nowhere`, which does not exist (f2)
        "#]],
    );
}

#[test]
fn sequence_flows_only_where_the_spec_allows_them() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
<bpmn:userTask id="t"/>
<bpmn:sequenceFlow id="back" sourceRef="t" targetRef="s"/>
<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
<bpmn:endEvent id="e"/>
<bpmn:sequenceFlow id="after_end" sourceRef="e" targetRef="t"/>
<bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="into_boundary" sourceRef="t" targetRef="b"/>
<bpmn:sequenceFlow id="f3" sourceRef="b" targetRef="e"/>
<bpmn:subProcess id="esp" triggeredByEvent="true"><bpmn:startEvent id="es"><bpmn:timerEventDefinition><bpmn:timeDuration>PT2H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:startEvent></bpmn:subProcess>
<bpmn:sequenceFlow id="into_esp" sourceRef="t" targetRef="esp"/>
<bpmn:sequenceFlow id="out_of_esp" sourceRef="esp" targetRef="e"/>"#,
        ),
        expect![[r#"
            6:1 error[invalid-flow] sequence flow `back`: start event `s` begins its scope; no sequence flow enters it (back)
            9:1 error[invalid-flow] sequence flow `after_end`: end event `e` ends its path; no sequence flow leaves it (after_end)
            11:1 error[invalid-flow] sequence flow `into_boundary`: boundary event `b` is triggered on its activity; no sequence flow enters it (into_boundary)
            14:1 error[invalid-flow] sequence flow `into_esp`: `esp` is an event sub-process, which has no sequence flows in or out: its start event's trigger starts it (into_esp)
            15:1 error[invalid-flow] sequence flow `out_of_esp`: `esp` is an event sub-process, which has no sequence flows in or out: its start event's trigger starts it, and when it ends its scope goes on without it (out_of_esp)
        "#]],
    );
    // Link events: the throw jumps, the catch is jumped to.
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="go"/>
<bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="x"/></bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="ignored" sourceRef="go" targetRef="land"/>
<bpmn:intermediateCatchEvent id="land"><bpmn:linkEventDefinition name="x"/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f2" sourceRef="land" targetRef="e"/>
<bpmn:endEvent id="e"/>"#,
        ),
        expect![[r#"
            6:1 error[invalid-flow] sequence flow `ignored`: link throw event `go` jumps to its link catch event; no sequence flow leaves it (ignored)
            6:1 error[invalid-flow] sequence flow `ignored`: link catch event `land` is reached from its link throw event; no sequence flow enters it (ignored)
        "#]],
    );
}

#[test]
fn event_sub_processes_have_one_triggered_start_and_no_boundaries() {
    check(
        &exec(&format!(
            r#"{LINE}
<bpmn:subProcess id="none" triggeredByEvent="true">
</bpmn:subProcess>
<bpmn:subProcess id="two" triggeredByEvent="true">
<bpmn:startEvent id="two_a"><bpmn:signalEventDefinition signalRef="x"/></bpmn:startEvent>
<bpmn:startEvent id="two_b"><bpmn:signalEventDefinition signalRef="y"/></bpmn:startEvent>
</bpmn:subProcess>
<bpmn:subProcess id="untriggered" triggeredByEvent="true">
<bpmn:startEvent id="plain"/>
</bpmn:subProcess>
<bpmn:boundaryEvent id="b" attachedToRef="two"><bpmn:signalEventDefinition signalRef="z"/></bpmn:boundaryEvent>
<bpmn:subProcess id="lenient" triggeredByEvent="true">
<bpmn:startEvent id="err" isInterrupting="false"><bpmn:errorEventDefinition/></bpmn:startEvent>
</bpmn:subProcess>"#
        )),
        expect![[r#"
            4:1 error[no-start-event] event sub-process `none` has no start event: it needs one, with the trigger that starts it (message, timer, signal, error or escalation) (none)
            8:1 error[invalid-event-subprocess] event sub-process `two` has a second start event `two_b` besides `two_a`; it has exactly one, with the trigger that starts it (two_b)
            11:1 error[invalid-event-subprocess] the start event `plain` of event sub-process `untriggered` has no trigger; give it the message, timer, signal, error or escalation that starts the event sub-process (plain)
            13:43 error[invalid-boundary] boundary event `b` is attached to `two`, an event sub-process, which cannot have boundary events (b)
            15:43 error[invalid-event-definition] `err`: an error start event always interrupts; remove `isInterrupting="false"` (err)
        "#]],
    );
}

#[test]
fn event_definitions_only_where_the_spec_allows_them() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="sub"/>
<bpmn:subProcess id="sub">
<bpmn:startEvent id="sub_start"><bpmn:messageEventDefinition messageRef="m"/></bpmn:startEvent>
<bpmn:sequenceFlow id="g1" sourceRef="sub_start" targetRef="cancel_end"/>
<bpmn:endEvent id="cancel_end"><bpmn:cancelEventDefinition/></bpmn:endEvent>
</bpmn:subProcess>
<bpmn:boundaryEvent id="cancel_b" attachedToRef="sub"><bpmn:cancelEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="bare_b" attachedToRef="sub"/>
<bpmn:boundaryEvent id="lenient_b" attachedToRef="sub" cancelActivity="false"><bpmn:errorEventDefinition/></bpmn:boundaryEvent>
<bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="catch_err"/>
<bpmn:intermediateCatchEvent id="catch_err"><bpmn:errorEventDefinition/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f3" sourceRef="catch_err" targetRef="bare_catch"/>
<bpmn:intermediateCatchEvent id="bare_catch"/>
<bpmn:sequenceFlow id="f4" sourceRef="bare_catch" targetRef="throw_err"/>
<bpmn:intermediateThrowEvent id="throw_err"><bpmn:errorEventDefinition/></bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f5" sourceRef="throw_err" targetRef="throw_timer"/>
<bpmn:intermediateThrowEvent id="throw_timer"><bpmn:timerEventDefinition/></bpmn:intermediateThrowEvent>
<bpmn:sequenceFlow id="f6" sourceRef="throw_timer" targetRef="timer_end"/>
<bpmn:endEvent id="timer_end"><bpmn:timerEventDefinition/></bpmn:endEvent>
<bpmn:startEvent id="error_start"><bpmn:errorEventDefinition/></bpmn:startEvent>"#,
        ),
        expect![[r#"
            6:33 error[invalid-event-definition] `sub_start`: the start event of a sub-process is a none start event, not a message one; a start event with a trigger belongs in an event sub-process (`triggeredByEvent="true"`) (sub_start)
            8:32 error[invalid-event-definition] `cancel_end`: a cancel end event is allowed only inside a transaction (cancel_end)
            10:55 error[invalid-event-definition] `cancel_b`: a cancel boundary event is allowed only on a transaction (cancel_b)
            11:1 error[invalid-event-definition] `bare_b`: a boundary event needs an event definition (message, timer, signal, error or escalation) (bare_b)
            12:1 warning[boundary-without-outgoing] boundary event `lenient_b` has no outgoing sequence flow: when it triggers, its path ends at once (lenient_b)
            12:72 error[invalid-event-definition] `lenient_b`: an error boundary event always interrupts; remove `cancelActivity="false"` (lenient_b)
            14:45 error[invalid-event-definition] `catch_err`: an intermediate catch event cannot catch an error; catch it with a boundary event or an event sub-process (catch_err)
            16:1 error[invalid-event-definition] `bare_catch`: an intermediate catch event needs an event definition (message, timer, signal or link); without one it is a throw event (bare_catch)
            18:45 error[invalid-event-definition] `throw_err`: an intermediate throw event cannot throw an error; use an error end event (throw_err)
            20:47 error[invalid-event-definition] `throw_timer`: a timer is caught, not thrown; use an intermediate catch event (throw_timer)
            22:31 error[invalid-event-definition] `timer_end`: an end event cannot have a timer definition (timer_end)
            23:35 error[invalid-event-definition] `error_start`: an error start event is allowed only in an event sub-process (error_start)
        "#]],
    );
}

#[test]
fn one_handler_per_code_in_a_scope() {
    let xml = format!(
        "{HEAD}\n<bpmn:error id=\"E1\" errorCode=\"late\"/><bpmn:escalation id=\"S1\" escalationCode=\"slow\"/>\n<bpmn:process id=\"p\" isExecutable=\"true\">\n{}\n</bpmn:process></bpmn:definitions>",
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/><bpmn:userTask id="t"/><bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/><bpmn:endEvent id="e"/>
<bpmn:boundaryEvent id="by_ref" attachedToRef="t"><bpmn:errorEventDefinition errorRef="E1"/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="by_code" attachedToRef="t"><bpmn:errorEventDefinition errorRef="late"/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="any1" attachedToRef="t"><bpmn:escalationEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="any2" attachedToRef="t" cancelActivity="false"><bpmn:escalationEventDefinition/></bpmn:boundaryEvent>
<bpmn:boundaryEvent id="other" attachedToRef="t"><bpmn:escalationEventDefinition escalationRef="S1"/></bpmn:boundaryEvent>
<bpmn:subProcess id="h1" triggeredByEvent="true"><bpmn:startEvent id="h1s"><bpmn:escalationEventDefinition escalationRef="S1"/></bpmn:startEvent></bpmn:subProcess>
<bpmn:subProcess id="h2" triggeredByEvent="true"><bpmn:startEvent id="h2s" isInterrupting="false"><bpmn:escalationEventDefinition escalationRef="S1"/></bpmn:startEvent></bpmn:subProcess>
<bpmn:subProcess id="h3" triggeredByEvent="true"><bpmn:startEvent id="h3s"><bpmn:errorEventDefinition errorRef="E1"/></bpmn:startEvent></bpmn:subProcess>"#
    );
    let shown: String = render(&import_one(xml.as_bytes()))
        .lines()
        .filter(|l| !l.contains("warning"))
        .map(|l| format!("{l}\n"))
        .collect();
    expect![[r#"
        6:1 error[duplicate-catch] boundary events `by_ref` and `by_code` of `t` both catch error `late`; keep one handler per code (a handler for the exact code is taken before a catch-all) (by_code)
        8:1 error[duplicate-catch] boundary events `any1` and `any2` of `t` both catch every escalation; keep one handler per code (a handler for the exact code is taken before a catch-all) (any2)
        11:50 error[duplicate-catch] event sub-processes `h1` and `h2` of process `p` both catch escalation `slow`; keep one handler per code (a handler for the exact code is taken before a catch-all) (h2s)
    "#]]
    .assert_eq(&shown);
    // In a descriptive process the same is a warning.
    let descriptive = xml.replace("isExecutable=\"true\"", "isExecutable=\"false\"");
    let imported = import_one(descriptive.as_bytes());
    assert!(!imported.has_errors());
    assert_eq!(imported.diagnostics.iter().filter(|d| d.code == "duplicate-catch").count(), 3);
}

#[test]
fn links_defaults_event_gateways_boundaries_and_compensation() {
    let xml = format!(
        "{HEAD}\n<bpmn:message id=\"m\" name=\"m\"/>\n<bpmn:process id=\"p\" isExecutable=\"true\">\n{}\n</bpmn:process></bpmn:definitions>",
        r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="fork"/>
<bpmn:parallelGateway id="fork" default="f2"/>
<bpmn:sequenceFlow id="f2" sourceRef="fork" targetRef="go"/>
<bpmn:sequenceFlow id="f3" sourceRef="fork" targetRef="eg1"/>
<bpmn:sequenceFlow id="f4" sourceRef="fork" targetRef="eg2"/>
<bpmn:intermediateThrowEvent id="go"><bpmn:linkEventDefinition name="x"/></bpmn:intermediateThrowEvent>
<bpmn:intermediateCatchEvent id="land1"><bpmn:linkEventDefinition name="x"/></bpmn:intermediateCatchEvent>
<bpmn:intermediateCatchEvent id="land2"><bpmn:linkEventDefinition name="x"/></bpmn:intermediateCatchEvent>
<bpmn:sequenceFlow id="f5" sourceRef="land1" targetRef="r"/>
<bpmn:eventBasedGateway id="eg1"/>
<bpmn:sequenceFlow id="f6" sourceRef="eg1" targetRef="r"/>
<bpmn:eventBasedGateway id="eg2"/>
<bpmn:sequenceFlow id="f7" sourceRef="eg2" targetRef="r2"/>
<bpmn:sequenceFlow id="f8" sourceRef="eg2" targetRef="mc"/>
<bpmn:receiveTask id="r" messageRef="m"/>
<bpmn:receiveTask id="r2" messageRef="m"/>
<bpmn:boundaryEvent id="rb" attachedToRef="r2"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:intermediateCatchEvent id="mc"><bpmn:messageEventDefinition messageRef="m"/></bpmn:intermediateCatchEvent>
<bpmn:subProcess id="sub"><bpmn:task id="inner"/></bpmn:subProcess>
<bpmn:boundaryEvent id="outside" attachedToRef="inner"><bpmn:timerEventDefinition><bpmn:timeDuration>PT1H</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
<bpmn:task id="undo" isForCompensation="true"/>
<bpmn:eventBasedGateway id="starter" instantiate="true"/>
<bpmn:eventBasedGateway id="both" eventGatewayType="Parallel"/>"#
    );
    check(
        &xml,
        expect![[r#"
            6:42 error[invalid-default-flow] `fork` is a parallelGateway and has no default flow; only exclusive, inclusive and complex gateways and activities do (fork)
            12:1 error[duplicate-link] link catch events `land1` and `land2` in one scope are both named `x`; a link throw jumps to one only, so give each its own name (land2)
            12:1 warning[unreachable-element] no token can ever reach `land2` (land2)
            14:1 warning[event-gateway-shape] event-based gateway `eg1` has one outgoing sequence flow; it is meant to choose among two or more events (eg1)
            14:1 warning[event-gateway-shape] `r` follows event-based gateway `eg1` and has other incoming sequence flows; the specification has an event after the gateway entered from it alone (eg1)
            16:1 error[invalid-event-gateway] receive task `r2` follows event-based gateway `eg2` and has boundary events, which would never be armed: the message that completes it is the one the gateway waits for (eg2)
            16:1 warning[event-gateway-shape] event-based gateway `eg2` leads to receive task `r2` and to message catch event `mc`; the specification has one or the other (eg2)
            21:1 warning[boundary-without-outgoing] boundary event `rb` has no outgoing sequence flow: when it triggers, its path ends at once (rb)
            24:49 error[invalid-boundary] boundary event `outside` is attached to `inner`, which sits in another (sub-)process; a boundary event sits beside its activity (outside)
            25:1 error[unsupported-element] task for compensation (`isForCompensation="true"`) is not supported by Sluice (undo)
            26:1 error[unsupported-element] eventBasedGateway that starts the process (`instantiate="true"`) is not supported by Sluice; use message or signal start events (starter)
            27:1 error[unsupported-element] parallel eventBasedGateway (`eventGatewayType="Parallel"`) is not supported by Sluice (both)
        "#]],
    );
}

#[test]
fn data_associations_sluice_cannot_run_are_named() {
    check(
        &exec(
            r#"<bpmn:startEvent id="s"/>
<bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
<bpmn:userTask id="t">
<bpmn:ioSpecification><bpmn:dataInput id="t_in" name="x"/><bpmn:dataOutput id="t_out" name="y"/></bpmn:ioSpecification>
<bpmn:dataInputAssociation id="xslt"><bpmn:sourceRef>do</bpmn:sourceRef><bpmn:targetRef>t_in</bpmn:targetRef>
<bpmn:transformation language="http://www.w3.org/1999/XSL/Transform">&lt;xsl:value-of select="."/&gt;</bpmn:transformation></bpmn:dataInputAssociation>
<bpmn:dataInputAssociation id="xpath"><bpmn:assignment><bpmn:from>= 1</bpmn:from><bpmn:to>getDataInput('x')</bpmn:to></bpmn:assignment></bpmn:dataInputAssociation>
<bpmn:dataInputAssociation id="bad_from"><bpmn:assignment><bpmn:from>= 1 +</bpmn:from><bpmn:to>t_in</bpmn:to></bpmn:assignment></bpmn:dataInputAssociation>
<bpmn:dataInputAssociation id="store"><bpmn:sourceRef>ds</bpmn:sourceRef><bpmn:targetRef>t_in</bpmn:targetRef></bpmn:dataInputAssociation>
<bpmn:dataInputAssociation id="ghost"><bpmn:sourceRef>nothing</bpmn:sourceRef><bpmn:targetRef>t_in</bpmn:targetRef></bpmn:dataInputAssociation>
<bpmn:dataInputAssociation id="two"><bpmn:sourceRef>do</bpmn:sourceRef><bpmn:sourceRef>do2</bpmn:sourceRef><bpmn:targetRef>t_in</bpmn:targetRef></bpmn:dataInputAssociation>
<bpmn:dataOutputAssociation id="ok"><bpmn:sourceRef>t_out</bpmn:sourceRef><bpmn:targetRef>do</bpmn:targetRef></bpmn:dataOutputAssociation>
</bpmn:userTask>
<bpmn:sequenceFlow id="f2" sourceRef="t" targetRef="e"/>
<bpmn:endEvent id="e"><bpmn:dataInputAssociation id="on_event"><bpmn:sourceRef>do</bpmn:sourceRef><bpmn:targetRef>e_in</bpmn:targetRef></bpmn:dataInputAssociation><bpmn:dataInput id="e_in" name="payload"/></bpmn:endEvent>
<bpmn:dataObject id="do" name="order"/><bpmn:dataObject id="do2" name="customer"/>
<bpmn:dataStoreReference id="ds"/>"#,
        ),
        expect![[r#"
            8:32 error[unsupported-expression-language] expression language `http://www.w3.org/1999/XSL/Transform` is not supported; write the transformation in FEEL (xslt)
            9:91 error[unsupported-data-association] the `to` of an assignment of data association `xpath` is `getDataInput('x')`; Sluice writes to a variable: give its name, or the id of a data object, data input or output, or property (xpath)
            10:75 error[invalid-expression] `from` of an assignment of data association `bad_from` is not a valid expression: expected a value but found the end of the expression (bad_from)
            11:55 error[unsupported-data-association] data association `store` reads or writes data store `ds`; Sluice keeps no data stores, only the Request's variables (store)
            12:55 error[dangling-reference] data association `ghost` refers to `nothing`, which does not exist in this file (ghost)
            13:88 error[unsupported-data-association] data association `two` has several `sourceRef`s and no transformation to combine them; the specification needs one (two)
            17:23 error[unsupported-data-association] data input association `on_event` of event `e` would move data, which Sluice does not do on events (a message or signal caught brings its data in as variables as it is; one thrown carries every variable) (on_event)
        "#]],
    );
    let p = process(&exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="t"/>
<bpmn:userTask id="t"><bpmn:ioSpecification><bpmn:dataInput id="t_in" name="x"/><bpmn:dataOutput id="t_out" name="y"/></bpmn:ioSpecification>
<bpmn:dataInputAssociation><bpmn:sourceRef>do</bpmn:sourceRef><bpmn:targetRef>t_in</bpmn:targetRef></bpmn:dataInputAssociation>
<bpmn:dataOutputAssociation><bpmn:sourceRef>t_out</bpmn:sourceRef><bpmn:targetRef>do</bpmn:targetRef><bpmn:assignment><bpmn:from>${y}</bpmn:from><bpmn:to>total</bpmn:to></bpmn:assignment></bpmn:dataOutputAssociation>
</bpmn:userTask><bpmn:dataObject id="do" name="order"/>"#,
    ));
    let t = element(&p, "t");
    let shown = |m: &DataMapping| match &m.source {
        DataSource::Variable(v) => format!("{} <- {v}", m.target),
        DataSource::Expr(e) => format!("{} <- {}", m.target, e.source()),
    };
    assert_eq!(t.inputs.iter().map(shown).collect::<Vec<_>>(), ["x <- order"]);
    assert_eq!(t.outputs.iter().map(shown).collect::<Vec<_>>(), ["total <- ${y}"]);
    // A descriptive process keeps its data associations as drawings.
    let xml = format!(
        "{HEAD}\n<bpmn:process id=\"p\"><bpmn:task id=\"t\"><bpmn:dataInputAssociation><bpmn:sourceRef>x</bpmn:sourceRef><bpmn:targetRef>y</bpmn:targetRef><bpmn:transformation language=\"xslt\">?</bpmn:transformation></bpmn:dataInputAssociation></bpmn:task></bpmn:process></bpmn:definitions>"
    );
    check(&xml, expect![[""]]);
}

/// A business rule task `b` with these attributes (and extension elements) between a start and
/// an end event.
fn rule_task(attrs: &str, ext: &str) -> String {
    exec(&format!(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="b"/>
<bpmn:businessRuleTask id="b" {attrs}>{ext}</bpmn:businessRuleTask><bpmn:sequenceFlow id="f2" sourceRef="b" targetRef="e"/><bpmn:endEvent id="e"/>"#
    ))
}

#[test]
fn business_rule_tasks_name_a_decision_in_each_dialect() {
    let call = |xml: &str| match &element(&process(xml), "b").kind {
        Kind::Task(TaskKind::Decision(c)) => c.clone(),
        other => panic!("not a decision task: {other:?}"),
    };
    let c = call(&rule_task(r#"sluice:decisionRef="level" sluice:resultVariable="r" sluice:decisionVersion="3""#, ""));
    assert_eq!(
        (c.decision_id.as_str(), &c.binding, c.result_variable.as_deref(), c.result),
        ("level", &DecisionBinding::Version(3), Some("r"), DecisionResult::Value)
    );
    let c = call(&rule_task(
        r#"camunda:decisionRef="level" camunda:resultVariable="r" camunda:mapDecisionResult="collectEntries" camunda:decisionRefBinding="versionTag" camunda:decisionRefVersionTag="q2""#,
        "",
    ));
    assert_eq!((&c.binding, c.result), (&DecisionBinding::VersionTag("q2".into()), DecisionResult::CollectEntries));
    let c = call(&rule_task(
        "",
        r#"<bpmn:extensionElements><zeebe:calledDecision decisionId="level" resultVariable="r"/></bpmn:extensionElements>"#,
    ));
    assert_eq!(
        (c.decision_id.as_str(), &c.binding, c.result),
        ("level", &DecisionBinding::Latest, DecisionResult::Value)
    );
    assert_eq!(
        process(&rule_task(r#"sluice:decisionRef="level" sluice:resultVariable="r""#, "")).decision_calls().count(),
        1
    );
}

#[test]
fn business_rule_task_mistakes_are_reported() {
    check(
        &rule_task(r#"sluice:decisionRef="level""#, ""),
        expect![[r#"
            4:51 error[missing-result-variable] business rule task `b` evaluates decision `level` but names no result variable (`sluice:resultVariable`) (b)
        "#]],
    );
    // Camunda 7 keeps no result without a variable: a warning, not a refusal.
    check(
        &rule_task(r#"camunda:decisionRef="level""#, ""),
        expect![[r#"
            4:52 warning[missing-result-variable] business rule task `b` evaluates decision `level` but names no result variable (`camunda:resultVariable`): its result is not kept (b)
        "#]],
    );
    check(
        &rule_task(
            r#"camunda:decisionRef="level" camunda:resultVariable="r" camunda:mapDecisionResult="firstEntry""#,
            "",
        ),
        expect![[r#"
            4:113 error[invalid-decision-reference] `camunda:mapDecisionResult` of `b` is `firstEntry`; it is one of singleEntry, singleResult, collectEntries, resultList (b)
        "#]],
    );
    check(
        &rule_task(
            "",
            r#"<bpmn:extensionElements><zeebe:calledDecision decisionId="=levelId" resultVariable="r"/></bpmn:extensionElements>"#,
        ),
        expect![[r#"
            4:90 error[invalid-decision-reference] business rule task `b` computes its decision id (`=levelId`); Sluice evaluates a decision named by its id only: write the id itself (b)
        "#]],
    );
    check(
        &rule_task(r#"sluice:decisionRef="level" sluice:resultVariable="r" sluice:decisionVersion="latest""#, ""),
        expect![[r#"
            4:108 error[invalid-decision-reference] `sluice:decisionVersion` of `b` is `latest`, not a version number (1, 2, ...) (b)
        "#]],
    );
    // A business rule task without a decision still needs a connector.
    check(
        &rule_task("", ""),
        expect![[r#"
            4:1 error[unsupported-element] businessRuleTask without a connector is not supported by Sluice; set `implementation` to a connector type or name a decision (`sluice:decisionRef`) (b)
        "#]],
    );
    // A decision none of the known ones: a warning (it may be deployed later).
    let xml = rule_task(r#"sluice:decisionRef="level" sluice:resultVariable="r""#, "");
    let imported = import(
        &[Source { name: "t.bpmn", bytes: xml.as_bytes() }],
        &Options { known_decisions: Some(&["discount"]), ..Options::default() },
    );
    expect![[r#"
        4:51 warning[unknown-decision] business rule task `b` evaluates decision `level`, which is neither in the given files nor deployed: deploy it before a Request reaches the task (b)
    "#]]
    .assert_eq(&render(&imported));
}

#[test]
fn zeebe_io_mapping_builds_nested_inputs_and_compiles_feel_and_result_headers() {
    let task = r##"<bpmn:serviceTask id="t"><bpmn:extensionElements>
<zeebe:taskDefinition type="io.camunda:slack:1" retries="3"/>
<zeebe:ioMapping>
<zeebe:input source="{{secrets.SLACK_OAUTH_TOKEN}}" target="token"/>
<zeebe:input source="chat.postMessage" target="method"/>
<zeebe:input source="#sales" target="data.channel"/>
<zeebe:input source="=&quot;Order &quot; + order_id" target="data.text"/>
</zeebe:ioMapping>
<zeebe:taskHeaders><zeebe:header key="resultVariable" value="slack"/><zeebe:header key="resultExpression" value="={ts: response.ts}"/></zeebe:taskHeaders>
</bpmn:extensionElements></bpmn:serviceTask>"##;
    let p = process(&exec(&LINE.replace(r#"<bpmn:userTask id="t"/>"#, task)));
    let Kind::Task(TaskKind::Connector(call)) = &element(&p, "t").kind else { panic!("not a connector task") };
    assert_eq!(call.connector, "io.camunda:slack:1");
    let inputs = Value::Object(call.inputs.clone());
    assert_eq!(
        inputs,
        serde_json::json!({"token": "{{secrets.SLACK_OAUTH_TOKEN}}", "method": "chat.postMessage", "data": {"channel": "#sales"}})
    );
    assert_eq!(call.computed.len(), 1);
    assert_eq!(call.computed[0].target, ["data", "text"]);
    assert_eq!(call.result_variable.as_deref(), Some("slack"));
    assert_eq!(call.result_expression.as_ref().map(|e| e.source()), Some("{ts: response.ts}"));
    let data: Map<String, Value> = serde_json::from_str(r#"{"order_id": "<A&1>"}"#).unwrap();
    let escape = |s: &str| std::borrow::Cow::Owned(s.replace('<', "&lt;").replace('>', "&gt;"));
    let computed = call.computed_inputs(&data, escape).unwrap();
    assert_eq!(computed, vec![(vec!["data".to_string(), "text".to_string()], Value::from("Order &lt;A&1&gt;"))]);
    // A broken FEEL source is reported where it is written.
    let bad = task.replace("=&quot;Order &quot; + order_id", "=1 +");
    let imported = import_one(exec(&LINE.replace(r#"<bpmn:userTask id="t"/>"#, &bad)).as_bytes());
    let text = render(&imported);
    assert!(text.starts_with("9:") && text.contains("the input `data.text` of `t`"), "{text}");
}

/// Vendor settings Sluice reads past without honouring them are warned about where they are
/// written; `zeebe:taskDefinition retries` is honoured as a worker job's first retries.
#[test]
fn unhonoured_vendor_settings_are_warned_about() {
    let xml = format!(
        "{HEAD}\n<bpmn:process id=\"p\" isExecutable=\"true\" camunda:jobPriority=\"5\">\n{}\n</bpmn:process>\n</bpmn:definitions>\n",
        r#"<bpmn:startEvent id="s" camunda:asyncAfter="true"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:serviceTask id="a" camunda:type="external" camunda:topic="ship" camunda:asyncBefore="true" camunda:taskPriority="10">
<bpmn:extensionElements><camunda:failedJobRetryTimeCycle>R5/PT1M</camunda:failedJobRetryTimeCycle></bpmn:extensionElements>
</bpmn:serviceTask><bpmn:sequenceFlow id="g" sourceRef="a" targetRef="b"/>
<bpmn:serviceTask id="b"><bpmn:extensionElements><zeebe:taskDefinition type="bill" retries="5"/></bpmn:extensionElements></bpmn:serviceTask>
<bpmn:sequenceFlow id="h" sourceRef="b" targetRef="c"/>
<bpmn:serviceTask id="c" camunda:asyncBefore="false"><bpmn:extensionElements><zeebe:taskDefinition type="bill" retries="=n"/></bpmn:extensionElements></bpmn:serviceTask>"#
    );
    check(
        &xml,
        expect![[r#"
            2:63 warning[unsupported-vendor-setting] `camunda:jobPriority` of `p` is not honoured by Sluice: connector calls and worker jobs have no priority in Sluice (p)
            3:45 warning[unsupported-vendor-setting] `camunda:asyncAfter` of `s` is not honoured by Sluice: Sluice adds no asynchronous continuation there (no extra wait state or transaction boundary) (s)
            4:92 warning[unsupported-vendor-setting] `camunda:asyncBefore` of `a` is not honoured by Sluice: Sluice adds no asynchronous continuation there (no extra wait state or transaction boundary) (a)
            4:120 warning[unsupported-vendor-setting] `camunda:taskPriority` of `a` is not honoured by Sluice: connector calls and worker jobs have no priority in Sluice (a)
            5:25 warning[unsupported-vendor-setting] `camunda:failedJobRetryTimeCycle` of `a` is not honoured by Sluice: connector calls are retried with Sluice's back-off (SLUICE_MAX_ATTEMPTS), worker jobs as their workers' failures say (`retries`, `retry_after_ms`) (a)
            9:121 warning[unsupported-vendor-setting] `zeebe:taskDefinition retries` of `c` is not honoured by Sluice: it is `=n`, not a number (a worker job then starts with 3 retries) (c)
        "#]],
    );
    let p = process(&xml);
    assert_eq!(connector(&p, "b").retries, Some(5));
    assert_eq!(connector(&p, "c").retries, None);
    assert_eq!(connector(&p, "a").retries, None);
}

#[test]
fn retries_of_a_connector_task_are_warned_about() {
    let xml = exec(
        r#"<bpmn:startEvent id="s"/><bpmn:sequenceFlow id="f" sourceRef="s" targetRef="a"/>
<bpmn:serviceTask id="a"><bpmn:extensionElements><zeebe:taskDefinition type="slack-notification" retries="5"/><zeebe:ioMapping><zeebe:input source="C1" target="channel"/></zeebe:ioMapping></bpmn:extensionElements></bpmn:serviceTask>"#,
    );
    struct Connectors;
    impl ConnectorCatalog for Connectors {
        fn validate(&self, connector: &str, inputs: &Map<String, Value>) -> Result<(), String> {
            Catalog.validate(connector, inputs)
        }
        fn is_connector(&self, connector: &str) -> bool {
            connector == "slack-notification"
        }
    }
    let imported = import(
        &[Source { name: "t.bpmn", bytes: xml.as_bytes() }],
        &Options { known_processes: &[], connectors: Some(&Connectors), known_decisions: None },
    );
    expect![[r#"
        4:107 warning[unsupported-vendor-setting] `zeebe:taskDefinition retries` of `a` is not honoured by Sluice for the connector `slack-notification`: connector calls follow Sluice's retries (SLUICE_MAX_ATTEMPTS); it counts only for a job type workers take (a)
    "#]]
    .assert_eq(&render(&imported));
}
