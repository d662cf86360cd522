//! Property tests: parsing and evaluation never panic, whatever the input.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use serde_json::{Map, Value};
use sluice_feel::iso8601::{parse_cycle, parse_date_time, parse_duration};
use sluice_feel::{Expression, FeelValue, UnaryTests};

const PIECES: &[&str] = &[
    "x",
    "y",
    "item",
    "a.b",
    "1",
    "-1",
    "0",
    "2.5",
    "\"s\"",
    "null",
    "true",
    "false",
    "+",
    "-",
    "*",
    "/",
    "**",
    "=",
    "!=",
    "<",
    ">=",
    "and",
    "or",
    "not(",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "..",
    ".",
    "if",
    "then",
    "else",
    "for",
    "in",
    "return",
    "some",
    "every",
    "satisfies",
    "between",
    "instance of",
    "number",
    "count(",
    "sum(",
    "substring(",
    "string length(",
    "date and time(",
    "duration(",
    "\"PT1H\"",
    "\"2026-01-01T00:00Z\"",
    "is defined(",
    "x[1]",
    "x[item > 1]",
    "decimal(",
    "modulo(",
    "sort(",
    "${",
    "&&",
    "||",
    "!",
    "==",
    "9223372036854775807",
    "sublist(",
    "flatten(",
    "min(",
    "?",
    "'q'",
    "empty",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        number(),
        "[a-z ]{0,4}".prop_map(Value::String),
        Just(Value::String("PT1H".into())),
        Just(Value::String("2026-01-01T00:00:00Z".into())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[abxy]", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Numbers at the edges: huge and tiny f64, i64 and u64 extremes, the decimal range's edge.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        prop::sample::select(vec![
            f64::MAX,
            f64::MIN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            -0.0,
            7.922816251426434e28,
            -7.922816251426434e28,
            1e-28,
            0.5e-28,
            9007199254740993.0,
        ])
        .prop_map(Value::from),
        prop::sample::select(vec![i64::MIN, i64::MAX, i64::MIN + 1, 0, -1]).prop_map(Value::from),
        prop::sample::select(vec![u64::MAX, 1u64 << 63]).prop_map(Value::from),
    ]
}

fn vars() -> impl Strategy<Value = Value> {
    (json_value(), json_value(), json_value())
        .prop_map(|(x, y, a)| serde_json::json!({"x": x, "y": y, "a": a, "item": 1}))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics(s in ".{0,60}") {
        let _ = Expression::parse(&s);
        let _ = parse_duration(&s);
        let _ = parse_date_time(&s);
        let _ = parse_cycle(&s);
    }

    #[test]
    fn token_soup_never_panics(toks in prop::collection::vec(prop::sample::select(PIECES), 0..14), v in vars()) {
        let src = toks.join(" ");
        if let Ok(e) = Expression::parse(&src) {
            let _ = e.eval(&v);
            let _ = e.eval_bool(&v);
            let _ = e.variables();
        }
    }

    #[test]
    fn unary_tests_never_panic(toks in prop::collection::vec(prop::sample::select(PIECES), 0..14), v in vars()) {
        // The same soup, with the pieces unary tests add, as a decision table's input entry.
        let src = toks.join(" ").replace("item", "?").replace("a.b", "not(").replace("y", ",");
        let _ = UnaryTests::parse(&src);
        if let Ok(t) = UnaryTests::parse(&src) {
            let input = FeelValue::from_json(&v);
            let _ = t.test(&input, &v);
            let _ = t.position(&input, &v);
            let _ = t.shape();
        }
    }

    #[test]
    fn eval_never_panics_on_json(v in vars()) {
        for src in [
            "x + y", "x - y", "x * y", "x / y", "x ** y", "x < y", "x = y", "x in y", "x[y]",
            "x[item > 0]", "x.a", "a.b", "count(x)", "sum(x)", "min(x)", "sort(x)", "flatten(x)",
            "string(x)", "number(x)", "duration(x)", "date and time(x)", "x between y and 1",
            "for i in x return i", "some i in x satisfies i = y", "distinct values(x)",
            "decimal(x, y)", "modulo(x, y)", "substring(x, y)", "abs(x)", "get entries(x)",
            "upper case(x)", "x and y", "x or y", "not(x)", "if x then y else 1", "${x == y}",
            "${x[y]}", "${empty x}", "sublist(x, y)", "date and time(x) + duration(y)",
            "x instance of number", "round half up(x, y)", "index of(x, y)", "list contains(x, y)",
        ] {
            let e = Expression::parse(src).unwrap();
            let _ = e.eval(&v);
            let _ = e.eval_bool(&v);
        }
    }

    /// The allocation-free condition path agrees with full evaluation.
    #[test]
    fn fast_conditions_agree_with_eval(v in vars(), op in prop::sample::select(&["=", "!=", "<", "<=", ">", ">="][..]),
                                       lhs in prop::sample::select(&["x", "y", "a.b", "x / y", "x + 1", "2.5", "\"s\"", "null", "true"][..]),
                                       rhs in prop::sample::select(&["x", "y", "a.b", "y * 2", "1", "0.5", "\"s\"", "null", "false"][..])) {
        let src = format!("{lhs} {op} {rhs} or {lhs} {op} 1");
        let e = Expression::parse(&src).unwrap();
        let full = e.eval(&v);
        let fast = e.eval_bool(&v);
        match (&full, &fast) {
            (Ok(Value::Bool(a)), Ok(b)) => prop_assert_eq!(a, b, "{}", src),
            (Ok(_), Err(_)) | (Err(_), Err(_)) => {}
            _ => prop_assert!(false, "{}: eval {:?} but eval_bool {:?}", src, full, fast),
        }
    }

    /// Arithmetic, comparisons and numeric functions on any two numbers never panic; overflow
    /// is the error "number too large"; conditions agree with full evaluation.
    #[test]
    fn numbers_never_panic(x in number(), y in number()) {
        let v = serde_json::json!({"x": x, "y": y});
        for src in [
            "x + y", "x - y", "x * y", "x / y", "x ** y", "y ** x", "x ** 2", "x ** -1", "x ** 0.5",
            "-x", "abs(x)", "floor(x)", "ceiling(x)", "decimal(x, 2)", "decimal(x, -2)",
            "round up(x, 0)", "round down(x, -30)", "round half up(x, 30)", "round half down(x, 1)",
            "modulo(x, y)", "sqrt(x)", "odd(x)", "even(x)", "string(x)", "number(string(x))",
            "sum([x, y])", "mean([x, y])", "min(x, y)", "max([x, y])", "sort([x, y, 1])",
            "x in [y, 1]", "[1, 2, 3][x]", "${x % y}", "${x / y}", "duration(\"PT1H\") * x",
            "duration(\"P1M\") / x", "x * 10 / 10 = x", "x between y and 1", "decimal(1.5, x)",
            "round up(y, x)", "substring(\"abc\", x, y)", "sublist([1, 2], x, y)", "for i in x..y return i",
        ] {
            let e = Expression::parse(src).unwrap();
            if let Err(err) = e.eval(&v) {
                prop_assert!(!err.message.is_empty());
            }
        }
        for op in ["=", "!=", "<", "<=", ">", ">="] {
            for src in [format!("x {op} y"), format!("x / 3 {op} y"), format!("x {op} 0.5"), format!("x + 1 {op} y")] {
                let e = Expression::parse(&src).unwrap();
                match (e.eval(&v), e.eval_bool(&v)) {
                    (Ok(Value::Bool(a)), Ok(b)) => prop_assert_eq!(a, b, "{}", src),
                    (Ok(Value::Bool(_)), Err(err)) => prop_assert!(false, "{}: eval_bool failed: {}", src, err),
                    (Ok(_) | Err(_), _) => {}
                }
            }
        }
    }

    /// A JSON number comes out as the same f64 when its shortest digits fit 28 decimal places.
    #[test]
    fn json_numbers_round_trip(x in any::<f64>().prop_filter("finite", |f| f.is_finite())) {
        let got = Expression::parse("x").unwrap().eval(&serde_json::json!({"x": x})).unwrap();
        if x.abs() >= 1e-11 || x == 0.0 {
            prop_assert_eq!(got.as_f64(), Some(x), "{:e} gave {}", x, got);
        }
        if (1e-11..7.9e28).contains(&x.abs()) {
            let sum = Expression::parse("x + 0").unwrap().eval(&serde_json::json!({"x": x})).unwrap();
            prop_assert_eq!(sum.as_f64(), Some(x), "{:e} + 0 gave {}", x, sum);
        }
    }

    #[test]
    fn durations_round_trip(y in 0u32..50, mo in 0u32..30, d in 0u32..400, h in 0u32..50, mi in 0u32..100, s in 0u32..100) {
        let text = format!("P{y}Y{mo}M{d}DT{h}H{mi}M{s}S");
        let dur = parse_duration(&text).unwrap();
        let again = parse_duration(&dur.to_string()).unwrap();
        prop_assert_eq!(dur, again);
    }
}
