//! `sluice check`, `sluice run` and `sluice feel`, driven through the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use sluice_tests::{scratch_dir, scratch_file, sluice, workspace};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn check_accepts_every_example_process() {
    let dir = workspace().join("processes");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn" || e == "dmn"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "expected at least five example processes, found {files:?}");
    assert!(files.iter().any(|f| f.ends_with(".dmn")), "expected an example decision, found {files:?}");
    let args: Vec<&str> = std::iter::once("check").chain(files.iter().map(String::as_str)).collect();
    let out = sluice(&args);
    assert!(out.status.success(), "check failed:\n{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert!(!stdout(&out).contains("error["), "{}", stdout(&out));
    // Given together, every business rule task's decision is found.
    assert!(!stdout(&out).contains("unknown-decision"), "{}", stdout(&out));
}

const LEVELS_DMN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="levels" name="Levels" namespace="urn:t">
  <decision id="level" name="Approval level">
    <decisionTable id="t" hitPolicy="UNIQUE">
      <input id="i1"><inputExpression id="e1" typeRef="number"><text>amount</text></inputExpression></input>
      <output id="o1" name="level" typeRef="string"/>
      <rule id="small"><inputEntry id="r1i"><text>&lt; 1000 +</text></inputEntry><outputEntry id="r1o"><text>"clerk"</text></outputEntry></rule>
      <rule id="large"><inputEntry id="r2i"><text>&gt;= 1000</text></inputEntry><outputEntry id="r2o"><text>"board"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>
"#;

#[test]
fn check_prints_a_unique_overlap_warning_where_the_rule_is() {
    let dir = scratch_dir("check-dmn-overlap");
    let dmn = dir.join("levels.dmn");
    // Fixed, but the second rule now starts at 500: both rules match 500 to 999.
    let overlapping = LEVELS_DMN.replace("&lt; 1000 +", "&lt; 1000").replace("&gt;= 1000", "&gt;= 500");
    std::fs::write(&dmn, overlapping).unwrap();
    let out = sluice(&["check", dmn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "a warning does not fail the check: {}", stdout(&out));
    // Line 8, column 7: the `<rule id="large">` element.
    let want = format!("{}:8:7: warning[unique-overlap]:", dmn.display());
    assert!(stdout(&out).starts_with(&want), "{}", stdout(&out));
    assert!(stdout(&out).contains("rules 1 (`small`) and 2 (`large`)"), "{}", stdout(&out));
    assert!(stdout(&out).contains("amount = 500"), "{}", stdout(&out));
    assert!(stdout(&out).contains("(element large)"), "{}", stdout(&out));
}

const DECIDING: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <process id="deciding" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
    <businessRuleTask id="decide" sluice:decisionRef="level" sluice:resultVariable="approver"/>
    <sequenceFlow id="f2" sourceRef="decide" targetRef="end"/>
    <endEvent id="end"/>
  </process>
</definitions>
"#;

#[test]
fn check_reports_dmn_problems_and_decisions_found_in_no_file() {
    let dir = scratch_dir("check-dmn");
    let (dmn, bpmn) = (dir.join("levels.dmn"), dir.join("deciding.bpmn"));
    std::fs::write(&dmn, LEVELS_DMN).unwrap();
    std::fs::write(&bpmn, DECIDING).unwrap();
    let out = sluice(&["check", dmn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let want = format!("{}:7:62: error[invalid-feel]:", dmn.display());
    assert!(stdout(&out).starts_with(&want), "{}", stdout(&out));
    assert!(stdout(&out).contains("(element small)"), "{}", stdout(&out));

    // The model alone: its decision is in none of the files, a warning (it may be deployed).
    let out = sluice(&["check", bpmn.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let want = format!("{}:6:", bpmn.display());
    assert!(stdout(&out).starts_with(&want) && stdout(&out).contains("warning[unknown-decision]"), "{}", stdout(&out));

    // Fixed and given together: nothing to say, and `run --with` evaluates it.
    std::fs::write(&dmn, LEVELS_DMN.replace("&lt; 1000 +", "&lt; 1000")).unwrap();
    let out = sluice(&["check", bpmn.to_str().unwrap(), dmn.to_str().unwrap()]);
    assert_eq!((out.status.code(), stdout(&out).as_str()), (Some(0), ""));
    let out =
        sluice(&["run", bpmn.to_str().unwrap(), "--with", dmn.to_str().unwrap(), "--data", r#"{"amount": 5000}"#]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let trace = lines(&out);
    let decided = trace.iter().find(|l| l["event"] == "decision_evaluated").unwrap();
    assert_eq!(decided["matched"], serde_json::json!([{"decision": "level", "rules": ["large"]}]));
    assert_eq!(trace.last().unwrap()["data"]["approver"], "board");
}

const BROKEN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="nowhere"/>
    <bpmn:exclusiveGateway id="gw"/>
    <bpmn:sequenceFlow id="f2" sourceRef="start" targetRef="gw">
      <bpmn:conditionExpression>amount &gt;&gt; 3</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:userTask id="start"/>
  </bpmn:process>
</bpmn:definitions>
"#;

#[test]
fn check_reports_every_problem_with_file_line_and_column() {
    let file = scratch_file("check", "broken.bpmn", BROKEN);
    let out = sluice(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let f = file.display().to_string();
    // One line per problem: FILE:LINE:COL: error[CODE]: message (element ID)
    for line in text.lines().filter(|l| l.contains("error[")) {
        assert!(line.starts_with(&format!("{f}:")), "{line}");
        let rest = &line[f.len() + 1..];
        let mut parts = rest.splitn(3, ':');
        let (l, c) = (parts.next().unwrap(), parts.next().unwrap());
        assert!(l.parse::<u32>().is_ok() && c.parse::<u32>().is_ok(), "{line}");
    }
    assert!(text.contains(&format!("{f}:5:")) && text.contains("error[dangling-reference]"), "{text}");
    assert!(text.contains(&format!("{f}:10:")) && text.contains("error[duplicate-id]"), "{text}");
    assert!(text.contains("error[gateway-without-outgoing]") && text.contains("(element gw)"), "{text}");
    assert!(text.contains(&format!("{f}:8:")) && text.contains("error[invalid-expression]"), "{text}");
}

#[test]
fn check_refuses_a_missing_file() {
    let out = sluice(&["check", "/nonexistent/model.bpmn"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("/nonexistent/model.bpmn:1:1: error[unreadable-file]"), "{}", stdout(&out));
}

fn lines(out: &std::process::Output) -> Vec<Value> {
    stdout(out).lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

const TIMERS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <process id="wait_and_decide" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <intermediateCatchEvent id="wait"><timerEventDefinition><timeDuration>P30D</timeDuration></timerEventDefinition></intermediateCatchEvent>
    <sequenceFlow id="f2" sourceRef="wait" targetRef="approve"/>
    <userTask id="approve"/>
    <sequenceFlow id="f3" sourceRef="approve" targetRef="score"/>
    <scriptTask id="score" scriptFormat="feel" sluice:resultVariable="score"><script>= amount * 2</script></scriptTask>
    <sequenceFlow id="f4" sourceRef="score" targetRef="gw"/>
    <exclusiveGateway id="gw" default="f6"/>
    <sequenceFlow id="f5" sourceRef="gw" targetRef="big"><conditionExpression>approved and score &gt; 100</conditionExpression></sequenceFlow>
    <sequenceFlow id="f6" sourceRef="gw" targetRef="small"/>
    <endEvent id="big"/>
    <endEvent id="small"/>
  </process>
</definitions>
"#;

#[test]
fn run_prints_a_trace_with_a_virtual_clock() {
    let file = scratch_file("run", "timers.bpmn", TIMERS);
    let out = sluice(&[
        "run",
        file.to_str().unwrap(),
        "--data",
        r#"{"amount": 60}"#,
        "--task-data",
        r#"approve={"approved": true}"#,
        "--clock",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let trace = lines(&out);
    let completed: Vec<&str> =
        trace.iter().filter(|l| l["event"] == "element_completed").map(|l| l["element_id"].as_str().unwrap()).collect();
    assert_eq!(completed, ["start", "wait", "approve", "score", "gw", "big"]);
    let fired = trace.iter().find(|l| l["event"] == "timer_fired").unwrap();
    assert_eq!(fired["at"], "2026-01-31T00:00:00+00:00", "thirty days later on the virtual clock");
    let last = trace.last().unwrap();
    assert_eq!(last["event"], "request_finished");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["data"]["score"], 120);
    assert_eq!(last["data"]["approved"], true);
}

#[test]
fn run_reads_data_and_task_data_from_files_given_as_at_file() {
    let dir = scratch_dir("run-at-file");
    let file = dir.join("timers.bpmn");
    std::fs::write(&file, TIMERS).unwrap();
    std::fs::write(dir.join("start.json"), r#"{"amount": 60}"#).unwrap();
    std::fs::write(dir.join("approve.json"), r#"{"approved": true}"#).unwrap();
    let data = format!("@{}", dir.join("start.json").display());
    let task = format!("approve=@{}", dir.join("approve.json").display());
    let out = sluice(&["run", file.to_str().unwrap(), "--data", &data, "--task-data", &task]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let last = lines(&out).pop().unwrap();
    assert_eq!(last["status"], "completed");
    assert_eq!(last["data"]["score"], 120);
    assert_eq!(last["data"]["approved"], true);

    // A missing file, or one without a JSON object, is refused with the flag and the file named.
    let missing = format!("@{}", dir.join("missing.json").display());
    let out = sluice(&["run", file.to_str().unwrap(), "--data", &missing]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data") && err.contains("missing.json"), "{err}");
    std::fs::write(dir.join("list.json"), "[1, 2]").unwrap();
    let list = format!("@{}", dir.join("list.json").display());
    let out = sluice(&["run", file.to_str().unwrap(), "--data", &list]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--data must be a JSON object") && err.contains("list.json"), "{err}");
}

const SLACK_TYPO: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d" targetNamespace="urn:t">
  <process id="notify" isExecutable="true">
    <startEvent id="start"/>
    <sequenceFlow id="f1" sourceRef="start" targetRef="post"/>
    <serviceTask id="post" implementation="slack-notification">
      <extensionElements>
        <sluice:input name="channel" value="{{ order.chanel }}"/>
        <sluice:input name="message" value="Order {{ order.nmae }}"/>
      </extensionElements>
    </serviceTask>
    <sequenceFlow id="f2" sourceRef="post" targetRef="done"/>
    <endEvent id="done"/>
  </process>
</definitions>
"#;

#[test]
fn run_warns_of_template_paths_that_resolve_to_nothing_and_an_empty_channel_is_an_incident() {
    let dir = scratch_dir("run-template-warning");
    let file = dir.join("notify.bpmn");
    std::fs::write(&file, SLACK_TYPO).unwrap();
    let out = sluice(&["run", file.to_str().unwrap(), "--data", r#"{"order": {"name": "ORD-1", "channel": "C1"}}"#]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("warning: `post`: input `channel`: `{{ order.chanel }}` resolves to nothing"), "{err}");
    assert!(err.contains("input `message`: `{{ order.nmae }}` resolves to nothing"), "{err}");
    // The channel rendered empty: an incident naming the input, not an empty post.
    let last = lines(&out).pop().unwrap();
    assert_eq!(last["status"], "error");
    assert_eq!(last["incidents"][0]["element_id"], "post");
    let message = last["incidents"][0]["message"].as_str().unwrap();
    assert!(message.contains("input `channel` is empty"), "{message}");
}

#[test]
fn check_refuses_a_connector_input_that_is_literally_empty() {
    let dir = scratch_dir("check-empty-input");
    let file = dir.join("empty.bpmn");
    std::fs::write(&file, SLACK_TYPO.replace("{{ order.chanel }}", " ")).unwrap();
    let out = sluice(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("input `channel` is empty") && text.contains("(element post)"), "{text}");
}

#[test]
fn run_reports_an_incident_and_exits_1() {
    let file = scratch_file("incident", "timers.bpmn", TIMERS);
    // No data: the condition at `gw` gives null, and a condition that is not a boolean is an
    // incident, never `false`.
    let out = sluice(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let last = lines(&out).pop().unwrap();
    assert_eq!(last["status"], "error");
    assert_eq!(last["incidents"][0]["element_id"], "gw");
    assert_eq!(last["incidents"][0]["code"], "expression_failed");
    assert_eq!(last["tokens"], serde_json::json!([{"element_id": "gw", "state": "incident"}]));
}

#[test]
fn run_refuses_an_invalid_model() {
    let file = scratch_file("run-broken", "broken.bpmn", BROKEN);
    let out = sluice(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error[dangling-reference]"));
}

const TIMER_START: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <process id="nightly" isExecutable="true">
    <startEvent id="at_nine"><timerEventDefinition><timeDate>2026-02-01T09:00:00Z</timeDate></timerEventDefinition></startEvent>
    <sequenceFlow id="f1" sourceRef="at_nine" targetRef="done"/>
    <endEvent id="done"/>
  </process>
</definitions>
"#;

#[test]
fn run_starts_through_a_timer_start_event_on_the_virtual_clock() {
    let file = scratch_file("timer-start", "nightly.bpmn", TIMER_START);
    let f = file.to_str().unwrap();
    // Without --start there is no none start event: a clear error, exit 1.
    let out = sluice(&["run", f, "--clock", "2026-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("timer `at_nine`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = sluice(&["run", f, "--start", "at_nine", "--clock", "2026-01-01T00:00:00Z"]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let last = lines(&out).pop().unwrap();
    assert_eq!(last["status"], "completed");
}

const CALLER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d1" targetNamespace="urn:t">
  <process id="caller" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="call"/>
    <callActivity id="call" calledElement="pricing"/>
    <sequenceFlow id="f2" sourceRef="call" targetRef="e"/><endEvent id="e"/>
  </process>
</definitions>
"#;

const CALLEE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sluice="urn:sluice:bpmn:1" id="d2" targetNamespace="urn:t">
  <process id="pricing" isExecutable="true">
    <startEvent id="ps"/><sequenceFlow id="p1" sourceRef="ps" targetRef="price"/>
    <scriptTask id="price" sluice:resultVariable="price"><script>= quantity * 12.5</script></scriptTask>
    <sequenceFlow id="p2" sourceRef="price" targetRef="pe"/><endEvent id="pe"/>
  </process>
</definitions>
"#;

#[test]
fn run_with_resolves_call_activities_into_other_files() {
    let dir = scratch_dir("with");
    let (caller, callee) = (dir.join("caller.bpmn"), dir.join("pricing.bpmn"));
    std::fs::write(&caller, CALLER).unwrap();
    std::fs::write(&callee, CALLEE).unwrap();
    // Alone, the called process is unknown: a diagnostic, exit 1.
    let out = sluice(&["run", caller.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown-called-process"));
    let out =
        sluice(&["run", caller.to_str().unwrap(), "--with", callee.to_str().unwrap(), "--data", r#"{"quantity": 4}"#]);
    assert!(out.status.success(), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    let trace = lines(&out);
    assert!(trace.iter().any(|l| l["event"] == "element_completed" && l["element_id"] == "price" && l["request"] == 1));
    let last = trace.last().unwrap();
    assert_eq!(last["data"]["price"], 50, "the child's variables come back to the caller");
}

#[test]
fn run_stops_an_endless_timer_cycle() {
    let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="urn:t">
  <message id="m" name="never"/>
  <process id="nag" isExecutable="true">
    <startEvent id="s"/><sequenceFlow id="f1" sourceRef="s" targetRef="wait"/>
    <receiveTask id="wait" messageRef="m"/>
    <boundaryEvent id="daily" attachedToRef="wait" cancelActivity="false">
      <timerEventDefinition><timeCycle>R/P1D</timeCycle></timerEventDefinition>
    </boundaryEvent>
    <sequenceFlow id="f2" sourceRef="daily" targetRef="noted"/><endEvent id="noted"/>
  </process>
</definitions>"#;
    let file = scratch_file("cycle", "nag.bpmn", xml);
    let out = sluice(&["run", file.to_str().unwrap(), "--clock", "2026-01-01T00:00:00Z"]);
    assert_eq!(out.status.code(), Some(1));
    let trace = lines(&out);
    assert_eq!(trace.iter().filter(|l| l["event"] == "timer_fired").count(), 200);
    assert!(trace.iter().any(|l| l["event"] == "dry_run_stopped"));
    assert_eq!(trace.last().unwrap()["status"], "active");
    // Where it waits, as the HTTP API's Request says it.
    assert_eq!(trace.last().unwrap()["tokens"], serde_json::json!([{"element_id": "wait", "state": "waiting"}]));
}

#[test]
fn run_stops_a_process_that_calls_itself_at_the_configured_depth() {
    // The engine's own test model of a process that calls itself.
    let file = workspace().join("engine/tests/models/self_call.bpmn");
    let out = sluice(&["run", file.to_str().unwrap(), "--max-call-depth", "3"]);
    let trace = lines(&out);
    let started = trace.iter().filter(|l| l["event"] == "request_started").count();
    assert_eq!(started, 4, "the root and three children: {trace:?}");
    let incident = trace.iter().find(|l| l["event"] == "incident_raised").expect("an incident");
    assert_eq!((incident["element_id"].as_str(), incident["code"].as_str()), (Some("call"), Some("call_depth_limit")));
    assert_eq!(incident["request"], 3, "{incident}");
    assert!(incident["message"].as_str().unwrap().contains("SLUICE_MAX_CALL_DEPTH"), "{incident}");
}

#[test]
fn feel_prints_the_value_as_one_json_line_and_problems_with_their_column() {
    let out =
        sluice(&["feel", "amount > 100 and matches(region, \"^E\")", "--data", r#"{"amount": 150, "region": "EU"}"#]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), "true\n");
    let src =
        "[1.5, \"a\", null, {b: [date(\"2026-01-31\") + duration(\"P1M\"), @\"PT90M\", time(\"10:00:00+02:00\")]}]";
    let out = sluice(&["feel", src]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout(&out), "[1.5,\"a\",null,{\"b\":[\"2026-02-28\",\"PT1H30M\",\"10:00:00+02:00\"]}]\n");
    // `now()` is the current time (or --now).
    let out = sluice(&["feel", "now() > @\"2020-01-01T00:00:00Z\""]);
    assert_eq!(stdout(&out), "true\n", "{}", String::from_utf8_lossy(&out.stderr));
    let out = sluice(&["feel", "string(today())", "--now", "2026-03-04T05:06:07Z"]);
    assert_eq!(stdout(&out), "\"2026-03-04\"\n");
    // A parse error and an evaluation error: stderr, with the column, exit 1.
    let out = sluice(&["feel", "x + (1 +"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error at column 9: expected a value but found the end of the expression\n"
    );
    let out = sluice(&["feel", "1 + substring(x, 2)", "--data", r#"{"x": 5}"#]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("error at column 5: `substring` expects a string"), "{err}");
}
