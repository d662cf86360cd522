//! Property tests: no input, however broken, makes the importer panic.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use sluice_bpmn::{Options, Source, import};

const VALID: &str = r##"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d">
  <bpmn:message id="m" name="paid" sluice:correlationKey="order.id"/>
  <bpmn:error id="e" errorCode="E1"/>
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="g"/>
    <bpmn:exclusiveGateway id="g" default="f3"/>
    <bpmn:sequenceFlow id="f2" sourceRef="g" targetRef="t"><bpmn:conditionExpression><![CDATA[ amount > 100 ]]></bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f3" sourceRef="g" targetRef="n"/>
    <bpmn:userTask id="t"><bpmn:multiInstanceLoopCharacteristics sluice:collection="items"/></bpmn:userTask>
    <bpmn:boundaryEvent id="b" attachedToRef="t"><bpmn:timerEventDefinition><bpmn:timeDuration>PT5M</bpmn:timeDuration></bpmn:timerEventDefinition></bpmn:boundaryEvent>
    <bpmn:serviceTask id="n" implementation="slack-notification"><bpmn:extensionElements><sluice:input name="channel" value="#x"/></bpmn:extensionElements></bpmn:serviceTask>
    <bpmn:receiveTask id="r" messageRef="m"/>
    <bpmn:subProcess id="sub"><bpmn:startEvent id="ss"/><bpmn:sequenceFlow sourceRef="ss" targetRef="se"/><bpmn:endEvent id="se"><bpmn:errorEventDefinition errorRef="e"/></bpmn:endEvent></bpmn:subProcess>
    <bpmn:sequenceFlow id="f4" sourceRef="t" targetRef="sub"/>
    <bpmn:sequenceFlow id="f5" sourceRef="b" targetRef="r"/>
  </bpmn:process>
</bpmn:definitions>
"##;

fn run(bytes: &[u8]) {
    let imported = import(&[Source { name: "x.bpmn", bytes }], &Options::default());
    for d in &imported.diagnostics {
        assert!(d.pos.line >= 1 && d.pos.column >= 1, "{d}");
    }
}

#[test]
fn the_seed_is_clean() {
    let imported = import(&[Source { name: "x.bpmn", bytes: VALID.as_bytes() }], &Options::default());
    assert!(!imported.has_errors(), "{:#?}", imported.diagnostics);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        run(&bytes);
    }

    #[test]
    fn arbitrary_xmlish(s in "[<>/=\"a-z:& ;#x0-9\\-]{0,400}") {
        run(format!("<bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\">{s}").as_bytes());
    }

    #[test]
    fn mutated_model(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = VALID.as_bytes().to_vec();
        for (at, b) in flips {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        run(&bytes);
    }

    #[test]
    fn deleted_spans(start in any::<prop::sample::Index>(), len in 0usize..200) {
        let mut bytes = VALID.as_bytes().to_vec();
        let s = start.index(bytes.len());
        let e = (s + len).min(bytes.len());
        bytes.drain(s..e);
        run(&bytes);
    }
}
