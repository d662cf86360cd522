//! DMN unary tests (`UnaryTests`): what passes, what is an error, what static analysis sees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rust_decimal::Decimal;
use serde_json::{Value, json};
use sluice_feel::{ConstTest, FeelValue, TestsShape, UnaryTests};

fn passes(tests: &str, input: Value, vars: Value) -> bool {
    let t = UnaryTests::parse(tests).unwrap_or_else(|e| panic!("`{tests}` does not parse: {e}"));
    t.test(&FeelValue::from_json(&input), &vars).unwrap_or_else(|e| panic!("`{tests}` on {input}: {e}"))
}

#[test]
fn what_passes() {
    let cases: &[(&str, Value, bool)] = &[
        ("-", json!(null), true),
        ("-", json!("x"), true),
        ("5", json!(5), true),
        ("5", json!(5.0), true),
        ("5", json!(6), false),
        ("\"a\", \"b\"", json!("b"), true),
        ("\"a\", \"b\"", json!("c"), false),
        ("< 10", json!(9.5), true),
        ("< 10", json!(10), false),
        ("<= 10", json!(10), true),
        (">= 18", json!(18), true),
        ("!= 3", json!(4), true),
        ("= 3", json!(3), true),
        ("[1..5)", json!(5), false),
        ("[1..5]", json!(5), true),
        ("]1..5]", json!(1), false),
        ("(1..5]", json!(2), true),
        ("< 0, > 100", json!(150), true),
        ("< 0, [10..20], > 100", json!(50), false),
        ("not(\"a\")", json!("b"), true),
        ("not(\"a\", \"b\")", json!("b"), false),
        ("not(< 5)", json!(7), true),
        ("not(< 5)", json!(null), false),
        ("< 5", json!(null), false),
        ("null", json!(null), true),
        ("true", json!(true), true),
        ("true", json!(false), false),
        ("false", json!(false), true),
        ("? > 2 and ? < 4", json!(3), true),
        ("? > 2 and ? < 4", json!(4), false),
        ("starts with(?, \"A\")", json!("Apple"), true),
        ("(? * 2) = 6", json!(3), true),
        ("limit", json!(7), true),
        ("> limit", json!(8), true),
        ("[1, 2, 3]", json!(2), true),
        ("list", json!(2), true),
        ("list", json!(9), false),
        ("(limit + 1) * 2", json!(16), true),
    ];
    for (tests, input, want) in cases {
        let got = passes(tests, input.clone(), json!({"limit": 7, "list": [1, 2, 3]}));
        assert_eq!(got, *want, "`{tests}` on {input}");
    }
}

#[test]
fn errors_and_parse_errors() {
    // Comparing kinds that do not compare is an error (Sluice's rule), not a miss.
    let t = UnaryTests::parse("< 5").unwrap();
    assert!(t.test(&FeelValue::from_json(&json!("x")), &json!({})).is_err());
    // A `?` expression must give a boolean.
    let t = UnaryTests::parse("? + 1").unwrap();
    let e = t.test(&FeelValue::from_json(&json!(1)), &json!({})).unwrap_err();
    assert!(e.message.contains("boolean"), "{e}");
    for bad in ["", "  ", "[1..", "< ", "\"a\" \"b\"", "not(1", "1,"] {
        assert!(UnaryTests::parse(bad).is_err(), "`{bad}` parsed");
    }
    let e = UnaryTests::parse("\"a\", [1..").unwrap_err();
    assert!(e.offset >= 5, "{e}");
}

#[test]
fn names_with_spaces_and_the_position_of_a_match() {
    let t = UnaryTests::parse_with_names("Flu Symptoms", &["Flu Symptoms"]).unwrap();
    let vars = json!({"Flu Symptoms": ["fever", "cough"]});
    assert!(t.test(&FeelValue::from_json(&json!("cough")), &vars).unwrap());
    assert!(!t.test(&FeelValue::from_json(&json!("sneeze")), &vars).unwrap());
    let order = UnaryTests::parse("\"high\", \"mid\", \"low\"").unwrap();
    assert_eq!(order.position(&FeelValue::from_json(&json!("mid")), &json!({})).unwrap(), Some(1));
    assert_eq!(order.position(&FeelValue::from_json(&json!("none")), &json!({})).unwrap(), None);
    assert!(UnaryTests::parse(" - ").unwrap().is_any());
    assert_eq!(order.source(), "\"high\", \"mid\", \"low\"");
}

#[test]
fn shapes() {
    let d = |s: &str| Decimal::from_str_exact(s).unwrap();
    assert_eq!(UnaryTests::parse("-").unwrap().shape(), TestsShape::Any);
    assert_eq!(
        UnaryTests::parse("\"a\", true, 5, < -2, [1..3)").unwrap().shape(),
        TestsShape::Constant(vec![
            ConstTest::Equals(json!("a")),
            ConstTest::Equals(json!(true)),
            ConstTest::Numbers { lo: Some((d("5"), true)), hi: Some((d("5"), true)) },
            ConstTest::Numbers { lo: None, hi: Some((d("-2"), false)) },
            ConstTest::Numbers { lo: Some((d("1"), true)), hi: Some((d("3"), false)) },
        ])
    );
    for opaque in ["not(1)", "x", "> x", "? > 1", "[1..x]", "date(\"2026-01-01\")", "!= 1", "[1, 2]"] {
        assert_eq!(UnaryTests::parse(opaque).unwrap().shape(), TestsShape::Opaque, "{opaque}");
    }
}
