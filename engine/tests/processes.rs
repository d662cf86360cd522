//! Every example model in `processes/` runs through realistic scenarios, and each run's trace is
//! compared with a snapshot in `tests/snapshots/` (set `UPDATE_SNAPSHOTS=1` to rewrite them after
//! a deliberate change, then review the diff).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

use serde_json::{Value, json};
use sluice_engine::Status;
use sluice_engine::sim::{ConnectorHost, ConnectorInvocation, ConnectorOutcome, Sim};

/// Connector calls answer what the scenario says for that element, else `{}`; every call is
/// recorded with the inputs the model gave it.
struct ScriptedConnectors {
    outputs: HashMap<String, Value>,
    calls: Vec<Value>,
}

impl ConnectorHost for ScriptedConnectors {
    fn invoke(&mut self, call: ConnectorInvocation<'_>) -> ConnectorOutcome {
        self.calls
            .push(json!({"element_id": call.element_id, "connector": call.call.connector, "inputs": call.call.inputs}));
        // An array answers successive calls of that element in turn (the last one repeats).
        let calls_so_far = self.calls.iter().filter(|c| c["element_id"] == call.element_id).count();
        let answer = match self.outputs.get(call.element_id) {
            Some(Value::Array(seq)) => seq.get(calls_so_far - 1).or(seq.last()),
            other => other,
        };
        match answer {
            Some(Value::Object(o)) if o.contains_key("bpmn_error") => ConnectorOutcome::BpmnError {
                code: o["bpmn_error"].as_str().unwrap_or_default().to_string(),
                message: None,
            },
            Some(v) => ConnectorOutcome::Completed(v.clone()),
            None => ConnectorOutcome::Completed(json!({})),
        }
    }
}

struct Scenario {
    name: &'static str,
    process: &'static str,
    data: Value,
    tasks: Value,
    connectors: Value,
    /// Published, in order, whenever the Request waits with no task open: [name, key, data].
    messages: Value,
    expect: Status,
    /// `.dmn` files in `processes/` whose decisions the model's business rule tasks evaluate.
    decisions: &'static [&'static str],
}

impl Scenario {
    /// `process` (in `processes/<process>.bpmn`) started with `data`: no task data, connector
    /// answers or messages given, and expected to complete.
    fn new(process: &'static str, name: &'static str, data: Value) -> Scenario {
        Scenario {
            name,
            process,
            data,
            tasks: json!({}),
            connectors: json!({}),
            messages: json!([]),
            expect: Status::Completed,
            decisions: &[],
        }
    }

    /// The model's file in `processes/`.
    fn file(&self) -> String {
        format!("{}.bpmn", self.process)
    }
}

fn scenarios() -> Vec<Scenario> {
    let order = json!({"order_id": "ORD-1042", "customer": {"name": "Acme GmbH", "tier": "gold"},
        "lines": [{"sku": "PUMP-200", "price": 450.0, "quantity": 3}, {"sku": "SEAL-KIT", "price": 35.5, "quantity": 4}]});
    let invoice = json!({"invoice_id": "INV-2026-0113", "customer": {"name": "Nordwind Logistics", "email": "ap@nordwind.example"},
        "amount": 4250.0, "currency": "EUR", "billing_api": "https://billing.example.com/api"});
    let expense = json!({"report_id": "EXP-3391", "employee": {"name": "Marta Silva", "email": "marta.silva@example.com"},
        "amount": 740.0, "currency": "EUR", "description": "Customer visit in Lyon",
        "receipts": [{"id": "R-1", "amount": 512.4}, {"id": "R-2", "amount": 227.6}], "payroll_api": "https://payroll.example.com/api"});
    let loan = json!({"application_id": "LA-2026-0457", "applicant": {"name": "Ravi Menon", "national_id": "850312-4471", "annual_income": 68000},
        "amount": 25000, "term_months": 60, "approvers": ["risk_officer", "branch_manager"], "credit_api": "https://credit.example.com/api"});
    let ticket = json!({"ticket_id": "TCK-5520", "subject": "Checkout page returns 502",
        "customer": {"name": "Helios Retail", "email": "ops@helios.example", "tier": "enterprise"}});
    let discount_order = json!({"order_id": "ORD-2210", "customer": {"name": "Acme GmbH", "tier": "gold"},
        "lines": [{"sku": "PUMP-200", "price": 450.0, "quantity": 12}]});
    let small_discount_order = json!({"order_id": "ORD-2211", "customer": {"name": "Brightwell Ltd", "tier": "silver"},
        "lines": [{"sku": "SEAL-KIT", "price": 35.5, "quantity": 20}]});
    let mut small_order = order.clone();
    small_order["lines"] = json!([{"sku": "SEAL-KIT", "price": 35.5, "quantity": 2}]);
    let mut no_receipts = expense.clone();
    no_receipts["receipts"] = json!([]);
    vec![
        Scenario {
            tasks: json!({"review_order": {"approved": true, "comment": "Known customer, fine"}}),
            ..Scenario::new("order_approval", "order_approval_approved", order.clone())
        },
        Scenario {
            tasks: json!({"review_order": {"approved": false, "comment": "Credit limit reached"}}),
            ..Scenario::new("order_approval", "order_approval_rejected", order)
        },
        Scenario::new("order_approval", "order_approval_small", small_order),
        Scenario {
            connectors: json!({"send_invoice": {"status": 202}}),
            messages: json!([["payment_received", "INV-2026-0113", {"paid_amount": 4250.0, "payment_reference": "SEPA-77812"}]]),
            ..Scenario::new("invoice_payment", "invoice_payment_paid", invoice.clone())
        },
        Scenario::new("invoice_payment", "invoice_payment_unpaid", invoice),
        Scenario {
            tasks: json!({"create_it_account": {"it_account": "jnovak"}, "order_equipment": {"laptop_serial": "PF3K9Q2"},
                "complete_hr_paperwork": {"contract_signed": true, "payroll_id": "P-88121"}, "assign_desk": {"desk": "B2-14"},
                "set_up_workstation": {"workstation_ready": true}, "meet_the_team": {"notes": "Coffee and a code walk-through"}}),
            ..Scenario::new(
                "employee_onboarding",
                "employee_onboarding",
                json!({"employee": {"name": "Jana Novak", "email": "jana.novak@example.com", "role": "backend engineer", "start_date": "2026-03-02"},
                "manager": "Tomas Berg", "team_members": ["Alice", "Bogdan", "Chiara"]}),
            )
        },
        Scenario {
            tasks: json!({"finance_check": {"finance_ok": true, "cost_center": "CC-410"}, "manager_approval": {"manager_approved": true},
                "check_receipts": {"receipts_valid": true}}),
            connectors: json!({"schedule_reimbursement": {"payment_id": "PAY-1"}}),
            ..Scenario::new("expense_report", "expense_report_approved", expense)
        },
        Scenario {
            tasks: json!({"finance_check": {"finance_ok": true, "cost_center": "CC-410"}, "manager_approval": {"manager_approved": true},
                "check_receipts": {"receipts_valid": false}}),
            ..Scenario::new("expense_report", "expense_report_receipts_missing", no_receipts)
        },
        Scenario {
            tasks: json!({"triage_ticket": {"priority": "high", "category": "outage"},
                "investigate_incident": {"root_cause": "Expired TLS certificate", "resolution": "Certificate renewed"}}),
            ..Scenario::new("support_ticket", "support_ticket_high_priority", ticket.clone())
        },
        Scenario {
            tasks: json!({"triage_ticket": {"priority": "low", "category": "question"}}),
            messages: json!([["ticket_withdrawn", "TCK-5520", {"reason": "Fixed on their side"}]]),
            ..Scenario::new("support_ticket", "support_ticket_withdrawn", ticket)
        },
        Scenario {
            tasks: json!({"approve_loan": {"approved": true, "comment": "Within policy"}, "verify_identity": {"identity_verified": true},
                "prepare_contract": {"contract_number": "LN-2026-0042"}}),
            connectors: json!({"check_credit": {"score": 712, "fraud_suspected": false}}),
            ..Scenario::new("loan_application", "loan_application_approved", loan.clone())
        },
        Scenario {
            tasks: json!({"approve_loan": {"approved": false, "comment": "Income too low"}, "verify_identity": {"identity_verified": true},
                "retry_credit_check": {}}),
            connectors: json!({"check_credit": [{"bpmn_error": "credit_service_down"}, {"score": 640, "fraud_suspected": false}]}),
            ..Scenario::new("loan_application", "loan_application_credit_service_down", loan)
        },
        Scenario {
            tasks: json!({"approve_discount": {"discount_approved_by": "Maria Keller"}}),
            decisions: &["order_discount.dmn"],
            ..Scenario::new("order_discount", "order_discount_manager", discount_order.clone())
        },
        Scenario {
            decisions: &["order_discount.dmn"],
            ..Scenario::new("order_discount", "order_discount_automatic", small_discount_order)
        },
        Scenario {
            // Without its decision deployed the business rule task raises an incident naming it.
            expect: Status::Active,
            ..Scenario::new("order_discount", "order_discount_not_deployed", discount_order)
        },
    ]
}

fn run(s: &Scenario) -> (Status, String) {
    let file = s.file();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../processes").join(&file);
    let processes = common::import(&[(file, std::fs::read(&path).unwrap())]);
    let mut sim = Sim::new(processes, common::t0());
    for dmn in s.decisions {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../processes").join(dmn);
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = sluice_dmn::parse(sluice_dmn::Source { file: dmn, text: &text });
        assert!(!parsed.has_errors(), "{dmn}: {:?}", parsed.diagnostics);
        sim.add_decisions(std::sync::Arc::new(parsed.definitions.unwrap()));
    }
    let mut host =
        ScriptedConnectors { outputs: serde_json::from_value(s.connectors.clone()).unwrap(), calls: Vec::new() };
    let mut messages: VecDeque<Value> = s.messages.as_array().unwrap().iter().cloned().collect();
    let root = sim.start(s.process, s.data.as_object().cloned().unwrap()).unwrap();
    for _ in 0..200 {
        sim.settle(&mut host);
        if let Some((r, t)) = sim.tasks().into_iter().next() {
            let id = sim.element_id(r, &t);
            let data = s.tasks.get(&id).and_then(Value::as_object).cloned().unwrap_or_default();
            sim.complete_task(r, t.token, data).unwrap();
            continue;
        }
        if sim.instance(root).unwrap().status() != Status::Active {
            break;
        }
        if let Some(m) = messages.pop_front() {
            sim.publish_message(m[0].as_str().unwrap(), m[1].as_str(), m[2].as_object().cloned().unwrap_or_default());
            continue;
        }
        match sim.next_timer() {
            // The loan model's retry path loops back to the failing connector: stop after a while.
            Some(due) if host.calls.len() < 20 => sim.advance_to(due, &mut host),
            _ => break,
        }
    }
    let inst = sim.instance(root).unwrap();
    let mut text = String::new();
    for line in sim.trace() {
        text.push_str(&line.to_string());
        text.push('\n');
    }
    for call in &host.calls {
        text.push_str(&json!({"connector_call": call}).to_string());
        text.push('\n');
    }
    text.push_str(
        &json!({"status": format!("{:?}", inst.status()), "data": inst.data(), "incidents": inst.incidents().len()})
            .to_string(),
    );
    text.push('\n');
    (inst.status(), text)
}

#[test]
fn example_processes_match_their_trace_snapshots() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots");
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    let mut files_covered = std::collections::BTreeSet::new();
    for s in scenarios() {
        files_covered.insert(s.file());
        let (status, trace) = run(&s);
        assert_eq!(status, s.expect, "{}: final status\n{trace}", s.name);
        let snap = dir.join(format!("{}.jsonl", s.name));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&snap, &trace).unwrap();
            continue;
        }
        match std::fs::read_to_string(&snap) {
            Ok(want) if want == trace => {}
            Ok(want) => failures.push(format!(
                "{}: trace differs from {}\n--- want\n{want}--- got\n{trace}",
                s.name,
                snap.display()
            )),
            Err(_) => {
                failures.push(format!("{}: no snapshot at {} (run with UPDATE_SNAPSHOTS=1)", s.name, snap.display()))
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every model in processes/ has at least one scenario.
    let all: Vec<String> = std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../processes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".bpmn"))
        .collect();
    for f in &all {
        assert!(files_covered.contains(f.as_str()), "{f} has no scenario");
    }
}
