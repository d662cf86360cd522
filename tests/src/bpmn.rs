//! Small BPMN models for the end-to-end tests, written as XML by a few helpers so that each test
//! says only what is particular to its model (the process, its tasks and their inputs).

/// One element of a process: its id and its XML.
#[derive(Clone, Debug)]
pub struct Element {
    pub id: String,
    pub xml: String,
}

/// `<bpmn:startEvent>`.
pub fn start(id: &str) -> Element {
    Element { id: id.into(), xml: format!(r#"<bpmn:startEvent id="{id}"/>"#) }
}

/// `<bpmn:endEvent>`.
pub fn end(id: &str) -> Element {
    Element { id: id.into(), xml: format!(r#"<bpmn:endEvent id="{id}"/>"#) }
}

/// `<bpmn:userTask>`.
pub fn user_task(id: &str, name: &str) -> Element {
    Element { id: id.into(), xml: format!(r#"<bpmn:userTask id="{id}" name="{name}"/>"#) }
}

/// `<bpmn:task>`: an activity that does nothing.
pub fn task(id: &str) -> Element {
    Element { id: id.into(), xml: format!(r#"<bpmn:task id="{id}"/>"#) }
}

/// `<bpmn:scriptTask>` evaluating the FEEL expression `script` (XML-escaped here) into the
/// variable `result`.
pub fn script_task(id: &str, script: &str, result: &str) -> Element {
    let script = script.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let xml = format!(
        "<bpmn:scriptTask id=\"{id}\" scriptFormat=\"feel\" sluice:resultVariable=\"{result}\">\n\
         <bpmn:script>{script}</bpmn:script>\n</bpmn:scriptTask>"
    );
    Element { id: id.into(), xml }
}

/// `<sluice:input name=… value=…/>`.
pub fn input(name: &str, value: &str) -> String {
    format!(r#"<sluice:input name="{name}" value="{value}"/>"#)
}

/// `<sluice:input name=…>text</sluice:input>`.
pub fn input_text(name: &str, text: &str) -> String {
    format!(r#"<sluice:input name="{name}">{text}</sluice:input>"#)
}

/// `<bpmn:serviceTask>` run by the connector `implementation`, with these `<sluice:input>`s.
pub fn service_task(id: &str, name: Option<&str>, implementation: &str, inputs: &[String]) -> Element {
    let name = name.map(|n| format!(r#" name="{n}""#)).unwrap_or_default();
    let xml = format!(
        "<bpmn:serviceTask id=\"{id}\"{name} implementation=\"{implementation}\">\n\
         <bpmn:extensionElements>\n{}\n</bpmn:extensionElements>\n\
         </bpmn:serviceTask>",
        inputs.join("\n")
    );
    Element { id: id.into(), xml }
}

/// A Slack Notification task posting `message` to `channel`, with any further inputs.
pub fn slack_task(id: &str, name: Option<&str>, channel: &str, message: &str, more: &[String]) -> Element {
    let mut inputs = vec![input("channel", channel), input_text("message", message)];
    inputs.extend_from_slice(more);
    service_task(id, name, "slack-notification", &inputs)
}

/// An HTTP connector task: `method` to `url`, with any further inputs.
pub fn http_task(id: &str, name: Option<&str>, method: &str, url: &str, more: &[String]) -> Element {
    let mut inputs = vec![input("method", method), input_text("url", url)];
    inputs.extend_from_slice(more);
    service_task(id, name, "http", &inputs)
}

/// An intermediate timer event waiting `duration` (ISO 8601, `PT1S`).
pub fn timer(id: &str, name: Option<&str>, duration: &str) -> Element {
    let name = name.map(|n| format!(r#" name="{n}""#)).unwrap_or_default();
    let xml = format!(
        "<bpmn:intermediateCatchEvent id=\"{id}\"{name}>\n<bpmn:timerEventDefinition>\n\
         <bpmn:timeDuration xsi:type=\"bpmn:tFormalExpression\">{duration}</bpmn:timeDuration>\n\
         </bpmn:timerEventDefinition>\n</bpmn:intermediateCatchEvent>"
    );
    Element { id: id.into(), xml }
}

/// A `<bpmn:sequenceFlow>`.
pub fn flow(id: &str, from: &str, to: &str) -> String {
    format!(r#"<bpmn:sequenceFlow id="{id}" sourceRef="{from}" targetRef="{to}"/>"#)
}

/// An executable process whose `elements` run one after another, joined by sequence flows with
/// the ids `flows` (one fewer than the elements).
pub fn chain(id: &str, name: Option<&str>, flows: &[&str], elements: &[Element]) -> String {
    assert_eq!(flows.len() + 1, elements.len(), "a chain of {id} needs one flow between each two elements");
    let mut body = vec![elements[0].xml.clone()];
    for (flow_id, pair) in flows.iter().zip(elements.windows(2)) {
        body.push(flow(flow_id, &pair[0].id, &pair[1].id));
        body.push(pair[1].xml.clone());
    }
    process(id, name, &body.join("\n"))
}

/// `<bpmn:process id=… isExecutable="true">` around `body`.
pub fn process(id: &str, name: Option<&str>, body: &str) -> String {
    let name = name.map(|n| format!(r#" name="{n}""#)).unwrap_or_default();
    format!("<bpmn:process id=\"{id}\"{name} isExecutable=\"true\">\n{body}\n</bpmn:process>")
}

/// A whole BPMN file holding `processes`, with the `sluice` and `xsi` namespaces declared.
pub fn definitions(processes: &[String]) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <bpmn:definitions xmlns:bpmn=\"http://www.omg.org/spec/BPMN/20100524/MODEL\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xmlns:sluice=\"urn:sluice:bpmn:1\" \
         id=\"d\" targetNamespace=\"urn:t\">\n{}\n</bpmn:definitions>",
        processes.join("\n")
    )
}

/// A file with one process: start → `task` → end (flows `f1`, `f2`).
pub fn one_task(id: &str, name: Option<&str>, task: Element) -> String {
    definitions(&[chain(id, name, &["f1", "f2"], &[start("start"), task, end("end")])])
}
