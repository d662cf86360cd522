//! Measures ns per evaluation of typical BPMN conditions:
//! `cargo bench -p sluice-feel --bench conditions`.

use std::hint::black_box;
use std::time::Instant;

use serde_json::{Map, Value, json};
use sluice_feel::Expression;

fn main() {
    let vars: Map<String, Value> = match json!({
        "amount": 150,
        "region": "EMEA",
        "status": "approved",
        "customer": {"name": "Ann", "vip": true, "age": 42},
        "nrOfCompletedInstances": 3,
        "nrOfInstances": 5,
        "items": [{"price": 5}, {"price": 20}, {"price": 15}]
    }) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let cases = [
        "amount > 100",
        "= status = \"approved\"",
        "customer.vip and customer.age >= 18",
        "${nrOfCompletedInstances/nrOfInstances >= 0.5}",
        "amount between 100 and 200 or status in [\"rejected\", \"cancelled\"]",
        "count(items[price > 10]) > 1",
        "amount > 100 and matches(region, \"^E\")",
        "sort(items, function(x, y) x.price < y.price)[1].price = 5",
    ];
    // Baseline: one map lookup and comparison by hand, to tell the machine's speed apart.
    let ns = fastest(|| {
        let v = black_box(&vars).get(black_box("amount"));
        black_box(v.and_then(Value::as_i64).is_some_and(|a| a > 100));
    });
    println!("{ns:8.1} ns/eval  (baseline: Map::get + i64 compare by hand)");
    for src in cases {
        let Ok(e) = Expression::parse(src) else {
            println!("{src}: does not parse");
            continue;
        };
        let ns = fastest(|| {
            black_box(e.eval_bool(black_box(&vars)).ok());
        });
        println!("{ns:8.1} ns/eval  {src}");
    }
}

/// The fastest of several timed rounds, in ns per call: the machine is shared, and the minimum
/// is the figure least disturbed by other work.
fn fastest(mut f: impl FnMut()) -> f64 {
    const ROUNDS: u32 = 15;
    const CALLS: u32 = 200_000;
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..CALLS {
            f();
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(CALLS));
    }
    best
}
