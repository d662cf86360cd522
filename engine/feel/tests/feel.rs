//! Data-driven tests of FEEL and JUEL parsing and evaluation.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};
use sluice_feel::{Expression, NoVariables};

#[track_caller]
fn check(src: &str, vars: Value, expected: Value) {
    let e = Expression::parse(src).unwrap_or_else(|err| panic!("parse `{src}`: {err}"));
    let got = e.eval(&vars).unwrap_or_else(|err| panic!("eval `{src}`: {err}"));
    assert_eq!(got, expected, "`{src}` with {vars}");
}

/// Evaluation fails with a message containing `needle`.
#[track_caller]
fn check_err(src: &str, vars: Value, needle: &str) {
    let e = Expression::parse(src).unwrap_or_else(|err| panic!("parse `{src}`: {err}"));
    match e.eval(&vars) {
        Ok(v) => panic!("`{src}` gave {v}, expected an error with `{needle}`"),
        Err(err) => assert!(err.message.contains(needle), "`{src}`: message `{}` lacks `{needle}`", err.message),
    }
}

/// Parsing fails at `offset` with a message containing `needle`.
#[track_caller]
fn check_parse_err(src: &str, offset: usize, needle: &str) {
    match Expression::parse(src) {
        Ok(e) => panic!("`{src}` parsed as {e:?}"),
        Err(err) => {
            assert!(err.message.contains(needle), "`{src}`: message `{}` lacks `{needle}`", err.message);
            assert_eq!(err.offset, offset, "`{src}`: {}", err.message);
        }
    }
}

fn n() -> Value {
    json!({})
}

#[test]
fn literals() {
    for (src, exp) in [
        ("1", json!(1)),
        ("-2.5", json!(-2.5)),
        (".5", json!(0.5)),
        ("\"a\\\"b\\\\c\\nd\\te\\u00e9\"", json!("a\"b\\c\nd\te\u{e9}")),
        ("\"\\ud83d\\ude00\"", json!("\u{1F600}")),
        ("true", json!(true)),
        ("false", json!(false)),
        ("null", json!(null)),
        ("[1, 2]", json!([1, 2])),
        ("[]", json!([])),
        ("{a: 1, \"b c\": 2}", json!({"a": 1, "b c": 2})),
        ("{a: 1, b: a + 1}", json!({"a": 1, "b": 2})),
        ("{}", json!({})),
        ("= 1 + 1", json!(2)),
        ("  =1  ", json!(1)),
        ("99999999999999999999", json!(1e20)),
        ("// comment\n 1 /* more */ + 1", json!(2)),
    ] {
        check(src, n(), exp);
    }
}

#[test]
fn arithmetic_and_precedence() {
    for (src, exp) in [
        ("1 + 1", json!(2)),
        ("1 + 2 * 3", json!(7)),
        ("(1 + 2) * 3", json!(9)),
        ("10 - 2 - 3", json!(5)),
        ("5 / 2", json!(2.5)),
        ("4 / 2", json!(2)),
        ("2 ** 3", json!(8)),
        ("2 * 3 ** 2", json!(18)),
        ("-2 ** 2", json!(4)),
        ("2 ** -1", json!(0.5)),
        ("-(1 + 2)", json!(-3)),
        ("- -3", json!(3)),
        ("1.5 + 1.5", json!(3)),
        ("0.1 + 0.2 = 0.3", json!(true)),
        ("0.1 + 0.2", json!(0.3)),
        ("1 / 0", json!(null)),
        ("1 + null", json!(null)),
        ("null * 2", json!(null)),
        ("\"a\" + \"b\"", json!("ab")),
        // Past i64 the numbers are exact decimals; a whole u64 is still a JSON integer.
        ("9223372036854775807 + 1", json!(9223372036854775808u64)),
        ("-9223372036854775807 - 10", json!(-9.223372036854776e18)),
        ("2 ** 90", json!(1.2379400392853803e27)),
        ("1 + 2 = 3", json!(true)),
        ("(1 < 2) = true", json!(true)),
    ] {
        check(src, n(), exp);
    }
}

#[test]
fn comparisons() {
    for (src, exp) in [
        ("1 = 1", json!(true)),
        ("1 = 1.0", json!(true)),
        ("1 != 2", json!(true)),
        ("1 < 2", json!(true)),
        ("2 <= 2", json!(true)),
        ("3 > 2", json!(true)),
        ("2 >= 3", json!(false)),
        ("\"a\" < \"b\"", json!(true)),
        ("\"a\" = \"a\"", json!(true)),
        ("null = null", json!(true)),
        ("1 = null", json!(false)),
        ("null != 1", json!(true)),
        ("null < 1", json!(null)),
        ("[1, 2] = [1, 2]", json!(true)),
        ("[1, 2] = [1, \"2\"]", json!(false)),
        ("{a: 1} = {a: 1}", json!(true)),
        ("true = true", json!(true)),
    ] {
        check(src, n(), exp);
    }
    check_err("\"5\" < 3", n(), "cannot compare a string with a number");
    check_err("\"a\" = 1", n(), "cannot compare a string with a number");
    check_err("true < false", n(), "booleans cannot be ordered");
    check_err("\"a\" + 1", n(), "cannot add a string and a number");
    check_err("x - 1", json!({"x": "s"}), "cannot subtract a string and a number");
}

#[test]
fn logic() {
    for (src, exp) in [
        ("true and true", json!(true)),
        ("true and false", json!(false)),
        ("false and null", json!(false)),
        ("null and false", json!(false)),
        ("true and null", json!(null)),
        ("true or null", json!(true)),
        ("null or true", json!(true)),
        ("false or null", json!(null)),
        ("false or false", json!(false)),
        ("not(true)", json!(false)),
        ("not(null)", json!(null)),
        ("true or false and false", json!(true)),
        ("1 < 2 and 2 < 3", json!(true)),
        ("missing and false", json!(false)),
        ("x != null and x.y > 1", json!(false)),
        ("if true then 1 else 2", json!(1)),
        ("if false then 1 else 2", json!(2)),
        ("if null then 1 else 2", json!(2)),
        ("if 1 > 2 then \"a\" else if 2 > 1 then \"b\" else \"c\"", json!("b")),
        ("1 + if true then 1 else 2", json!(2)),
    ] {
        check(src, n(), exp);
    }
    check_err("1 and true", n(), "`and` needs booleans but got a number");
    check_err("not(1)", n(), "`not` needs a boolean");
    check_err("if 1 then 1 else 2", n(), "must be a boolean");
}

#[test]
fn between_in_instance_of() {
    for (src, exp) in [
        ("5 between 1 and 10", json!(true)),
        ("10 between 1 and 10", json!(true)),
        ("11 between 1 and 10", json!(false)),
        ("null between 1 and 10", json!(null)),
        ("5 between 1 and 10 and true", json!(true)),
        ("2 in [1, 2]", json!(true)),
        ("3 in [1, 2]", json!(false)),
        ("\"b\" in [\"a\", \"b\"]", json!(true)),
        ("5 in (1..10]", json!(true)),
        ("1 in (1..10]", json!(false)),
        ("10 in (1..10]", json!(true)),
        ("10 in [1..10)", json!(false)),
        ("10 in ]1..10[", json!(false)),
        ("1 in [1..10]", json!(true)),
        ("4 in < 5", json!(true)),
        ("5 in < 5", json!(false)),
        ("5 in <= 5", json!(true)),
        ("6 in > 5", json!(true)),
        ("5 in 5", json!(true)),
        ("5 in (1, 2, > 4)", json!(true)),
        ("3 in (1, 2, > 4)", json!(false)),
        ("3 in (< 2, > 4)", json!(false)),
        ("3 in (1 + 2)", json!(true)),
        ("x in xs", json!(true)),
        ("\"x\" in [1, 2]", json!(false)),
        ("null in [1, null]", json!(true)),
        ("5 in []", json!(false)),
        ("1 instance of number", json!(true)),
        ("\"a\" instance of string", json!(true)),
        ("\"a\" instance of number", json!(false)),
        ("[1] instance of list", json!(true)),
        ("{} instance of context", json!(true)),
        ("date and time(\"2026-01-01T00:00:00Z\") instance of date and time", json!(true)),
        ("duration(\"P1D\") instance of days and time duration", json!(true)),
        ("null instance of Null", json!(true)),
    ] {
        check(src, json!({"x": 2, "xs": [1, 2, 3]}), exp);
    }
}

#[test]
fn paths_and_filters() {
    let vars = json!({
        "customer": {"name": "Ann", "address": {"city": "Oslo"}, "tags": ["a", "b"]},
        "items": [{"price": 5, "name": "pen"}, {"price": 20, "name": "book"}, {"price": 15, "name": "cup"}],
        "nums": [1, 2, 3, 4],
        "a": {"b": {"c": 7}}
    });
    for (src, exp) in [
        ("customer.name", json!("Ann")),
        ("customer.address.city", json!("Oslo")),
        ("customer.missing", json!(null)),
        ("customer.missing.deeper", json!(null)),
        ("missing.name", json!(null)),
        ("a.b.c", json!(7)),
        ("customer.tags[1]", json!("a")),
        ("nums[1]", json!(1)),
        ("nums[-1]", json!(4)),
        ("nums[0]", json!(null)),
        ("nums[5]", json!(null)),
        ("nums[item > 2]", json!([3, 4])),
        ("nums[item > 10]", json!([])),
        ("items[price > 10]", json!([{"price": 20, "name": "book"}, {"price": 15, "name": "cup"}])),
        ("items[price > 10].name", json!(["book", "cup"])),
        ("items[item.price < 10][1].name", json!("pen")),
        ("items.price", json!([5, 20, 15])),
        ("count(items[price > 10])", json!(2)),
        ("[][1]", json!(null)),
        ("[][item > 1]", json!([])),
        ("5[1]", json!(5)),
        ("{a: {b: 1}}.a.b", json!(1)),
        ("[1, 2, 3][item >= 2]", json!([2, 3])),
        ("[[1, 2], [3]][1][2]", json!(2)),
    ] {
        check(src, vars.clone(), exp);
    }
    check_err("customer.name.first", vars.clone(), "cannot read `first` of a string");
    check_err("nums[\"x\"]", vars, "a filter must be a condition or a number");
}

#[test]
fn loops_and_quantifiers() {
    let vars = json!({"xs": [1, 2, 3], "orders": [{"total": 10}, {"total": 30}]});
    for (src, exp) in [
        ("for x in xs return x * 2", json!([2, 4, 6])),
        ("for x in [1, 2], y in [10, 20] return x + y", json!([11, 21, 12, 22])),
        ("for i in 1..3 return i", json!([1, 2, 3])),
        ("for i in 3..1 return i", json!([3, 2, 1])),
        ("for x in [] return x", json!([])),
        ("some x in xs satisfies x > 2", json!(true)),
        ("some x in xs satisfies x > 5", json!(false)),
        ("every x in xs satisfies x > 0", json!(true)),
        ("every x in xs satisfies x > 1", json!(false)),
        ("every x in [] satisfies x > 1", json!(true)),
        ("some o in orders satisfies o.total > 20", json!(true)),
        ("sum(for o in orders return o.total)", json!(40)),
        ("some x in [1, 2], y in [3, 4] satisfies x + y = 6", json!(true)),
    ] {
        check(src, vars.clone(), exp);
    }
    check_err("for i in 1..10000000 return i", n(), "too long");
    check_err("for a in 1..999, b in 1..999, c in 1..999 return 1", n(), "runs too long");
}

#[test]
fn string_functions() {
    for (src, exp) in [
        ("string(1)", json!("1")),
        ("string(2.5)", json!("2.5")),
        ("string(true)", json!("true")),
        ("string(null)", json!(null)),
        ("string([1, \"a\"])", json!("[1,\"a\"]")),
        ("string(duration(\"PT90M\"))", json!("PT1H30M")),
        ("number(\"12\")", json!(12)),
        ("number(\"-1.5\")", json!(-1.5)),
        ("number(null)", json!(null)),
        ("string length(\"héllo\")", json!(5)),
        ("upper case(\"abc\")", json!("ABC")),
        ("lower case(\"ABC\")", json!("abc")),
        ("trim(\"  a \")", json!("a")),
        ("substring(\"foobar\", 3)", json!("obar")),
        ("substring(\"foobar\", 3, 3)", json!("oba")),
        ("substring(\"foobar\", -2, 1)", json!("a")),
        ("substring(\"foobar\", 10)", json!("")),
        ("substring(string: \"foobar\", start position: 2, length: 2)", json!("oo")),
        ("substring before(\"foobar\", \"bar\")", json!("foo")),
        ("substring after(\"foobar\", \"ob\")", json!("ar")),
        ("substring after(\"foobar\", \"x\")", json!("")),
        ("contains(\"foobar\", \"ob\")", json!(true)),
        ("contains(\"foobar\", \"x\")", json!(false)),
        ("starts with(\"foobar\", \"fo\")", json!(true)),
        ("ends with(\"foobar\", \"ar\")", json!(true)),
        ("split(\"a,b,c\", \",\")", json!(["a", "b", "c"])),
        ("string join([\"a\", \"b\"], \", \")", json!("a, b")),
        ("string join([\"a\", null, \"b\"])", json!("ab")),
        ("upper case(null)", json!(null)),
    ] {
        check(src, n(), exp);
    }
    check_err("upper case(1)", n(), "`upper case` expects a string but got a number");
    check_err("number(\"abc\")", n(), "cannot convert \"abc\" to a number");
    check("substring(\"abc\", 1.5)", n(), json!("abc"));
}

#[test]
fn list_functions() {
    for (src, exp) in [
        ("count([1, 2])", json!(2)),
        ("count([])", json!(0)),
        ("sum([1, 2, 3])", json!(6)),
        ("sum(1, 2, 3)", json!(6)),
        ("sum([1.5, 2])", json!(3.5)),
        ("sum([])", json!(null)),
        ("min([3, 1, 2])", json!(1)),
        ("max(3, 1, 2)", json!(3)),
        ("min([\"b\", \"a\"])", json!("a")),
        ("max([])", json!(null)),
        ("mean([1, 2, 3, 4])", json!(2.5)),
        ("all([true, true])", json!(true)),
        ("all([true, false, null])", json!(false)),
        ("all([true, null])", json!(null)),
        ("any([false, true])", json!(true)),
        ("any([])", json!(false)),
        ("list contains([1, 2], 2)", json!(true)),
        ("list contains([1, 2], 3)", json!(false)),
        ("list contains([1, null], null)", json!(true)),
        ("append([1], 2, 3)", json!([1, 2, 3])),
        ("concatenate([1], [2, 3], [])", json!([1, 2, 3])),
        ("distinct values([1, 2, 1, 3, 2])", json!([1, 2, 3])),
        ("flatten([1, [2, [3, 4]], []])", json!([1, 2, 3, 4])),
        ("index of([1, 2, 1], 1)", json!([1, 3])),
        ("reverse([1, 2, 3])", json!([3, 2, 1])),
        ("sort([3, 1, 2])", json!([1, 2, 3])),
        ("sort([\"b\", \"c\", \"a\"])", json!(["a", "b", "c"])),
        ("sublist([1, 2, 3, 4], 2, 2)", json!([2, 3])),
        ("sublist([1, 2, 3], -1)", json!([3])),
        ("remove([1, 2, 3], 2)", json!([1, 3])),
        ("insert before([1, 3], 2, 2)", json!([1, 2, 3])),
        ("count(xs)", json!(3)),
        ("count(null)", json!(null)),
    ] {
        check(src, json!({"xs": [1, 2, 3]}), exp);
    }
    check_err("sum([1, \"a\"])", n(), "`sum` expects a list of numbers but got a string");
    check_err("sort([1, \"a\"])", n(), "cannot compare");
    check("list contains(1, 2)", n(), json!(false));
}

#[test]
fn numeric_functions() {
    for (src, exp) in [
        ("abs(-3)", json!(3)),
        ("abs(-1.5)", json!(1.5)),
        ("floor(1.5)", json!(1)),
        ("floor(-1.5)", json!(-2)),
        ("ceiling(1.2)", json!(2)),
        ("decimal(1/3, 2)", json!(0.33)),
        ("decimal(2.5, 0)", json!(2)),
        ("decimal(3.5, 0)", json!(4)),
        ("decimal(1.125, 2)", json!(1.12)),
        ("round up(5.5, 0)", json!(6)),
        ("round up(-5.5, 0)", json!(-6)),
        ("round up(1.121, 2)", json!(1.13)),
        ("round down(5.5, 0)", json!(5)),
        ("round down(-5.5, 0)", json!(-5)),
        ("round half up(5.5, 0)", json!(6)),
        ("round half up(-5.5, 0)", json!(-6)),
        ("round half up(2.675, 2)", json!(2.68)),
        ("round half down(5.5, 0)", json!(5)),
        ("round half down(5.6, 0)", json!(6)),
        ("modulo(12, 5)", json!(2)),
        ("modulo(-12, 5)", json!(3)),
        ("modulo(12, -5)", json!(-3)),
        ("modulo(10.1, 4.5)", json!(1.1)),
        ("modulo(-10.1, 4.5)", json!(3.4)),
        ("modulo(10.1, -4.5)", json!(-3.4)),
        ("modulo(9, 4.5)", json!(0)),
        ("modulo(1, 0)", json!(null)),
        ("sqrt(16)", json!(4)),
        ("sqrt(-1)", json!(null)),
        ("odd(5)", json!(true)),
        ("even(5)", json!(false)),
        ("even(-2)", json!(true)),
    ] {
        check(src, n(), exp);
    }
}

#[test]
fn context_functions_and_is_defined() {
    let vars = json!({"m": {"a": 1, "b": null}, "nothing": null});
    for (src, exp) in [
        ("get value(m, \"a\")", json!(1)),
        ("get value(m, \"z\")", json!(null)),
        ("get value({x: 2}, \"x\")", json!(2)),
        ("get entries({x: 1})", json!([{"key": "x", "value": 1}])),
        ("is defined(m)", json!(true)),
        ("is defined(nothing)", json!(true)),
        ("is defined(missing)", json!(false)),
        ("is defined(m.a)", json!(true)),
        ("is defined(m.b)", json!(true)),
        ("is defined(m.z)", json!(false)),
        ("is defined(missing.z)", json!(false)),
        ("not(is defined(missing))", json!(true)),
    ] {
        check(src, vars.clone(), exp);
    }
}

#[test]
fn temporal() {
    let vars = json!({"start": "2026-01-31T10:00:00Z", "due": "2026-12-01T09:00:00+01:00"});
    for (src, exp) in [
        ("duration(\"PT5M\")", json!("PT5M")),
        ("duration(\"P2W\")", json!("P14D")),
        ("duration(\"PT90M\")", json!("PT1H30M")),
        ("date and time(\"2026-12-01T09:00:00Z\")", json!("2026-12-01T09:00:00Z")),
        ("date and time(due)", json!("2026-12-01T09:00:00+01:00")),
        ("date and time(\"2026-12-01T09:00:00Z\") + duration(\"PT5M\")", json!("2026-12-01T09:05:00Z")),
        ("duration(\"PT5M\") + date and time(\"2026-12-01T09:00:00Z\")", json!("2026-12-01T09:05:00Z")),
        ("date and time(\"2026-12-01T09:00:00Z\") - duration(\"P1D\")", json!("2026-11-30T09:00:00Z")),
        ("date and time(start) + duration(\"P1M\")", json!("2026-02-28T10:00:00Z")),
        ("date and time(\"2026-12-02T10:00:00Z\") - date and time(\"2026-12-01T09:00:00Z\")", json!("P1DT1H")),
        ("date and time(\"2026-12-01T09:00:00Z\") - date and time(\"2026-12-01T10:00:00Z\")", json!("-PT1H")),
        ("duration(\"PT1H\") > duration(\"PT59M\")", json!(true)),
        ("duration(\"P1D\") = duration(\"PT24H\")", json!(true)),
        ("duration(\"P1Y\") = duration(\"P12M\")", json!(true)),
        ("duration(\"PT1H\") + duration(\"PT30M\")", json!("PT1H30M")),
        ("duration(\"PT1H\") - duration(\"PT2H\")", json!("-PT1H")),
        ("duration(\"PT1H\") * 3", json!("PT3H")),
        ("duration(\"PT1H\") / 2", json!("PT30M")),
        ("duration(\"PT1H\") / duration(\"PT30M\")", json!(2)),
        ("-duration(\"PT1H\")", json!("-PT1H")),
        ("date and time(\"2026-12-01T09:00:00Z\") < date and time(\"2026-12-01T09:00:01Z\")", json!(true)),
        ("date(\"2026-03-01\") - date(\"2026-02-01\")", json!("P28D")),
        ("date(\"2026-01-31\") + duration(\"P1M\")", json!("2026-02-28")),
        ("date(\"2026-01-31T10:00:00Z\")", json!("2026-01-31")),
        ("time(\"10:30:00\") + duration(\"PT45M\")", json!("11:15:00")),
        ("time(\"23:30:00\") + duration(\"PT1H\")", json!("00:30:00")),
        ("date and time(\"2026-12-01T09:05:00Z\").hour", json!(9)),
        ("date and time(\"2026-12-01T09:05:00Z\").minute", json!(5)),
        ("date(\"2026-12-01\").year", json!(2026)),
        ("date(\"2026-12-01\").weekday", json!(2)),
        ("duration(\"P1DT2H\").hours", json!(2)),
        ("duration(\"P1DT2H\").days", json!(1)),
        ("years and months duration(date(\"2026-01-15\"), date(\"2027-03-14\"))", json!("P1Y1M")),
        ("years and months duration(date(\"2026-01-15\"), date(\"2027-03-15\"))", json!("P1Y2M")),
        ("date and time(\"2026-01-01T09:00Z\")", json!("2026-01-01T09:00:00Z")),
        ("date and time(\"2026-01-01T09:00:00.250Z\")", json!("2026-01-01T09:00:00.25Z")),
    ] {
        check(src, vars.clone(), exp);
    }
    check_err("duration(\"PT5\")", n(), "the number 5 has no unit");
    check_err("date and time(\"tomorrow\")", n(), "is not a date and time");
    check_err("duration(\"P1M\") < duration(\"P30D\")", n(), "months have no fixed length");
    check_err(
        "date(\"2026-01-01\") < date and time(\"2026-01-01T00:00:00Z\")",
        n(),
        "cannot compare a date with a date and time",
    );
    check_err("duration(\"P1M\") - duration(\"P1D\")", n(), "one is in years and months");
}

#[test]
fn juel() {
    let vars = json!({
        "input": 1, "a": "y", "b": false, "c": false,
        "nrOfCompletedInstances": 3, "nrOfInstances": 5, "nrOfLoops": 4,
        "list": [10, 20], "obj": {"k": "v"}, "s": ""
    });
    for (src, exp) in [
        ("${input == 1}", json!(true)),
        ("${input != 1}", json!(false)),
        ("${a != 'x' && !(b || c)}", json!(true)),
        ("${nrOfCompletedInstances/nrOfInstances >= 0.5}", json!(true)),
        ("${nrOfCompletedInstances / nrOfInstances}", json!(0.6)),
        ("${5}", json!(5)),
        ("${nrOfLoops}", json!(4)),
        ("${ nrOfLoops < 5 }", json!(true)),
        ("${input eq 1 and a ne 'x'}", json!(true)),
        ("${input lt 2 or input gt 5}", json!(true)),
        ("${input le 1 && input ge 1}", json!(true)),
        ("${not b}", json!(true)),
        ("${!b && !c}", json!(true)),
        ("${empty s}", json!(true)),
        ("${not empty list}", json!(true)),
        ("${empty missing}", json!(true)),
        ("${list[0]}", json!(10)),
        ("${list[1] == 20}", json!(true)),
        ("${obj.k == 'v'}", json!(true)),
        ("${obj['k']}", json!("v")),
        ("${input > 0 ? 'pos' : 'neg'}", json!("pos")),
        ("${7 % 3}", json!(1)),
        ("${7 mod 3}", json!(1)),
        ("${1 + 2 * 3 == 7}", json!(true)),
        ("${input == 1 == true}", json!(true)),
        ("${a == \"y\"}", json!(true)),
        ("#{input == 1}", json!(true)),
    ] {
        check(src, vars.clone(), exp);
    }
}

#[test]
fn eval_bool_messages() {
    let e = Expression::parse("amount > 100").unwrap();
    assert!(e.eval_bool(&json!({"amount": 150})).unwrap());
    assert!(!e.eval_bool(&json!({"amount": 50})).unwrap());
    let err = e.eval_bool(&json!({})).unwrap_err();
    assert_eq!(err.message, "expected a boolean but the condition gave null: is `amount` set?");
    let err = Expression::parse("a + b").unwrap().eval_bool(&json!({"a": 1, "b": 2})).unwrap_err();
    assert_eq!(err.message, "expected a boolean but the condition gave a number (3)");
    let err = Expression::parse("a > b").unwrap().eval_bool(&NoVariables).unwrap_err();
    assert!(err.message.contains("are `a`, `b` set?"), "{}", err.message);
    let err = Expression::parse("amount > 100").unwrap().eval_bool(&json!({"amount": "lots"})).unwrap_err();
    assert_eq!(err.message, "cannot compare a string with a number");
}

#[test]
fn variables_and_source() {
    let e =
        Expression::parse("= a.b > 1 and count(items[price > x]) > 0 and (for i in xs return i + y) != []").unwrap();
    assert_eq!(e.variables(), vec!["a", "items", "price", "x", "xs", "y"]);
    assert_eq!(e.source(), "= a.b > 1 and count(items[price > x]) > 0 and (for i in xs return i + y) != []");
    let j = Expression::parse("${nrOfCompletedInstances/nrOfInstances >= 0.5}").unwrap();
    assert_eq!(j.variables(), vec!["nrOfCompletedInstances", "nrOfInstances"]);
    let map: serde_json::Map<String, Value> = serde_json::from_value(json!({"a": {"b": 2}})).unwrap();
    assert_eq!(Expression::parse("a.b").unwrap().eval(&map).unwrap(), json!(2));
    assert_eq!(Expression::parse("x").unwrap().eval(&json!(5)).unwrap(), json!(null));
    // Send + Sync + Clone + PartialEq.
    fn assert_traits<T: Send + Sync + Clone + PartialEq + std::fmt::Debug>() {}
    assert_traits::<Expression>();
}

#[test]
fn parse_errors() {
    check_parse_err("", 0, "empty");
    check_parse_err("   ", 3, "empty");
    check_parse_err("=", 1, "empty");
    check_parse_err("1 +", 3, "expected a value but found the end of the expression");
    check_parse_err("cont(xs)", 0, "unknown function `cont` (did you mean `count`?)");
    check_parse_err("x + string lenght(\"a\")", 4, "unknown function `string lenght` (did you mean `string length`?)");
    check_parse_err("foo(1)", 0, "unknown function `foo`");
    check_parse_err("(1 + 2", 6, "expected `)`");
    check_parse_err("[1, 2", 5, "expected `,` or `]`");
    check_parse_err("\"abc", 0, "not closed");
    check_parse_err("1 # 2", 2, "unexpected character `#`");
    check_parse_err("a < b < c", 6, "cannot be chained");
    check_parse_err("amount >> 3", 8, "after a comparison");
    check_parse_err("if a then b", 11, "expected `else`");
    check_parse_err("substring(\"a\")", 0, "`substring` takes 2 or 3 arguments but was given 1");
    check_parse_err("substring(string: \"a\", begin: 1)", 23, "has no parameter `begin`");
    check_parse_err("1 2", 2, "unexpected the number 2 after the end");
    check_parse_err("${a == 1", 8, "expected `}`");
    check_parse_err("${a = 1}", 4, "use `==`");
    check_parse_err("${a.size()}", 8, "not supported");
    check_parse_err("  = 1 +", 7, "expected a value");
    let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
    check_parse_err(&deep, 64, "nested too deeply");
    let neg = format!("{}1", "-".repeat(200));
    assert!(Expression::parse(&neg).is_err());
    // Long flat chains are fine: they do not nest.
    let chain = vec!["1"; 500].join(" + ");
    check(&chain, n(), json!(500));
    let ors = vec!["false"; 300].join(" or ");
    check(&ors, n(), json!(false));
}

#[test]
fn display_of_errors() {
    let err = Expression::parse("1 +").unwrap_err();
    assert_eq!(err.to_string(), "expected a value but found the end of the expression (at offset 3)");
}

/// Numbers are exact decimals (see "Numbers" in README.md).
#[test]
fn exact_decimals() {
    for (src, exp) in [
        ("0.1 + 0.2 = 0.3", json!(true)),
        ("0.1 * 3", json!(0.3)),
        ("0.1 * 3 = 0.3", json!(true)),
        ("1.1 + 2.2", json!(3.3)),
        ("0.3 - 0.1 = 0.2", json!(true)),
        ("sum([0.1, 0.2])", json!(0.3)),
        ("sum([0.1, 0.2]) = 0.3", json!(true)),
        ("mean([0.1, 0.2, 0.3])", json!(0.2)),
        // A whole decimal result is a JSON integer.
        ("100 * 1.1", json!(110)),
        ("100 * 1.1 = 110", json!(true)),
        ("string(100 * 1.1)", json!("110")),
        ("string(0.1 + 0.2)", json!("0.3")),
        ("string(1.50)", json!("1.5")),
        ("10 / 4", json!(2.5)),
        ("3 / 5 >= 0.5", json!(true)),
        ("3 / 5 = 0.6", json!(true)),
        // Division rounds to the decimal's precision: 28 decimal places here.
        ("string(1 / 3)", json!("0.3333333333333333333333333333")),
        ("string(2 / 3)", json!("0.6666666666666666666666666667")),
        ("string(10 / 3)", json!("3.3333333333333333333333333333")),
        ("1 / 3 * 3 = 1", json!(false)),
        ("string(1 / 3 * 3)", json!("0.9999999999999999999999999999")),
        ("decimal(1 / 3 * 3, 10) = 1", json!(true)),
        ("1 / 3", json!(0.3333333333333333)),
        // Exact comparison beyond f64's 17 digits.
        ("0.12345678901234567890 < 0.12345678901234567891", json!(true)),
        ("9007199254740993 > 9007199254740992.5", json!(true)),
        ("12345678901234567890123456789 - 12345678901234567890123456788", json!(1)),
        ("string(12345678901234567890123456789)", json!("12345678901234567890123456789")),
        ("0.5 ** 2", json!(0.25)),
        ("1.1 ** 2 = 1.21", json!(true)),
        ("2 ** -2", json!(0.25)),
        ("10 ** -40", json!(0)),
        ("0 ** -1", json!(null)),
        ("4 ** 0.5", json!(2)),
        ("(-8) ** 0.5", json!(null)),
        ("2 ** 0.5", json!(std::f64::consts::SQRT_2)),
        ("sqrt(2)", json!(std::f64::consts::SQRT_2)),
        ("-0.0", json!(0)),
        ("string(-0.0)", json!("0")),
        ("-0.0 = 0", json!(true)),
        ("0.0 * -1 = 0", json!(true)),
        // Literals with more than 28 decimal places are rounded.
        ("0.00000000000000000000000000001 = 0", json!(true)),
        ("1 = 1.000", json!(true)),
        ("[1, 2][1.0]", json!(1)),
        ("for i in 1..2.0 return i", json!([1, 2])),
        ("${7.5 % 2}", json!(1.5)),
        ("${-7.5 % 2}", json!(-1.5)),
        ("duration(\"PT1S\") * 0.1", json!("PT0.1S")),
        ("duration(\"PT1H\") / 3 * 3", json!("PT1H")),
        ("duration(\"PT2H\") / duration(\"PT1H\")", json!(2)),
        ("duration(\"PT1H\") / duration(\"PT2H\")", json!(0.5)),
        ("number(\"0.1\") + number(\"0.2\") = 0.3", json!(true)),
        ("number(\"-1.50\")", json!(-1.5)),
        ("number(\"+7\")", json!(7)),
        ("number(\"12345678901234567890.5\")", json!(12345678901234567890.5)),
    ] {
        check(src, n(), exp);
    }
    check_err("2 ** 100", n(), "number too large");
    check_err("79228162514264337593543950335 + 1", n(), "number too large");
    check_err("9223372036854775807 * 9223372036854775807", n(), "number too large");
    check_err("-79228162514264337593543950335 - 1", n(), "number too large");
    check_err("number(\"123456789012345678901234567890\")", n(), "number too large");
    check_err("number(\"1.2.3\")", n(), "cannot convert");
    check("sublist([1, 2], 1.5)", n(), json!([1, 2]));
    check_err("for i in 1..2.5 return i", n(), "whole numbers but got a number and a number (2.5)");
    check_parse_err("x > 123456789012345678901234567890", 4, "number too large");
}

/// Rounding is exact: ties are real ties, with no tolerance.
#[test]
fn exact_rounding() {
    for (src, exp) in [
        ("decimal(2.675, 2)", json!(2.68)),
        ("decimal(2.665, 2)", json!(2.66)),
        ("decimal(0.125, 2)", json!(0.12)),
        ("decimal(0.135, 2)", json!(0.14)),
        ("decimal(-2.5, 0)", json!(-2)),
        ("decimal(1234.5, -2)", json!(1200)),
        ("decimal(1250, -2)", json!(1200)),
        ("decimal(1350, -2)", json!(1400)),
        ("decimal(5, 2)", json!(5)),
        ("round half up(2.675, 2)", json!(2.68)),
        ("round half up(2.6749999999999999, 2)", json!(2.67)),
        ("round half up(-2.675, 2)", json!(-2.68)),
        ("round half down(2.675, 2)", json!(2.67)),
        ("round half down(2.6751, 2)", json!(2.68)),
        ("round half down(-2.675, 2)", json!(-2.67)),
        ("round up(1.0000000001, 2)", json!(1.01)),
        ("round up(1.10, 1)", json!(1.1)),
        ("round down(1.9999999999, 2)", json!(1.99)),
        ("round up(-1.001, 0)", json!(-2)),
        ("round up(150, -2)", json!(200)),
        ("round down(-150, -2)", json!(-100)),
        ("round half up(0.5, 0)", json!(1)),
        ("round half up(0.4999999999999999999999999999, 0)", json!(0)),
        ("round half down(0.5000000000000000000000000001, 0)", json!(1)),
        ("round down(0.1, -40)", json!(0)),
        ("round half up(0.1, 6176)", json!(0.1)),
        ("round up(0, -6111)", json!(0)),
        ("floor(-0.0000000000000000000000000001)", json!(-1)),
        ("ceiling(0.0000000000000000000000000001)", json!(1)),
        ("floor(2.9999999999999999999999999999)", json!(2)),
        ("ceiling(-2.5)", json!(-2)),
        ("floor(-0.5)", json!(-1)),
        ("ceiling(-0.5)", json!(0)),
        ("string(ceiling(-0.5))", json!("0")),
        ("odd(3.0)", json!(true)),
        ("even(12345678901234567890)", json!(true)),
        ("odd(2.5)", json!(false)),
    ] {
        check(src, n(), exp);
    }
    check_err("round up(70000000000000000000000000000, -29)", n(), "number too large");
    check_err("round up(0.1, -9223372036854775807 - 1)", n(), "the scale must be between");
}

/// JSON in, JSON out: integers stay integers, non-integers are read through their shortest text.
#[test]
fn json_numbers() {
    let vars = json!({
        "a": 0.1, "b": 0.2, "c": 0.3, "i": 3, "n": 5, "f": 150.0, "neg0": -0.0,
        "big": 1e300, "nbig": -1e300, "tiny": 1e-300, "u": 18446744073709551615u64,
        "min": i64::MIN, "max": i64::MAX, "third": 0.3333333333333333,
    });
    for (src, exp) in [
        ("a + b = c", json!(true)),
        ("a + b", json!(0.3)),
        ("a * 3", json!(0.3)),
        ("a", json!(0.1)),
        ("i / n", json!(0.6)),
        ("i / n >= 0.5", json!(true)),
        ("f", json!(150)),
        ("f = 150", json!(true)),
        ("f + 0.5", json!(150.5)),
        ("neg0", json!(0)),
        ("neg0 = 0", json!(true)),
        ("third * 3", json!(0.9999999999999999)),
        // Beyond the decimal range: passes through, compares by sign.
        ("big", json!(1e300)),
        ("big > 79228162514264337593543950335", json!(true)),
        ("nbig < -1", json!(true)),
        ("big > nbig", json!(true)),
        ("big = big", json!(true)),
        ("abs(nbig)", json!(1e300)),
        ("-big", json!(-1e300)),
        ("floor(big)", json!(1e300)),
        ("big instance of number", json!(true)),
        ("[big][1]", json!(1e300)),
        ("string(big)", json!("1e+300")),
        // Smaller than 1e-28: rounded to 28 decimal places.
        ("tiny", json!(0)),
        ("tiny = 0", json!(true)),
        ("u", json!(18446744073709551615u64)),
        ("u + 0", json!(18446744073709551615u64)),
        ("u - 1 > max", json!(true)),
        ("min", json!(i64::MIN)),
        ("min - 1", json!(-9.223372036854776e18)),
        ("min - 1 < min", json!(true)),
        ("-min", json!(9223372036854775808u64)),
        ("abs(min)", json!(9223372036854775808u64)),
        ("max + 1 - 1 = max", json!(true)),
        ("max * 2 / 2", json!(i64::MAX)),
        ("min / -1", json!(9223372036854775808u64)),
        ("min / 10", json!(-922337203685477580.8)),
        ("string(min / 10)", json!("-922337203685477580.8")),
        // 29 significant digits: the product rounds back to exactly `min`.
        ("min / 3 * 3 = min", json!(true)),
        ("string(min / 3)", json!("-3074457345618258602.6666666667")),
    ] {
        check(src, vars.clone(), exp);
    }
    check_err("big + 1", vars.clone(), "number too large");
    check_err("big * 0", vars.clone(), "number too large");
    check_err("round half up(big, -1)", vars.clone(), "number too large");
    // eval_bool agrees on the fast path.
    for (src, exp) in [
        ("a + b = c", true),
        ("i / n >= 0.5", true),
        ("a < b", true),
        ("f > 149.9", true),
        ("big > 1", true),
        ("u > max", true),
        ("min < -9223372036854775807", true),
        ("neg0 >= 0", true),
    ] {
        let e = Expression::parse(src).unwrap();
        assert_eq!(e.eval_bool(&vars).unwrap(), exp, "{src}");
    }
}

/// Every finite f64 read from JSON comes back out as the same f64 (or its integer).
#[test]
fn json_round_trip() {
    let e = Expression::parse("x").unwrap();
    let plus_zero = Expression::parse("x + 0").unwrap();
    for x in [
        0.1,
        -0.1,
        2.5,
        1.0 / 3.0,
        123456.789,
        1e-7,
        1.5e-20,
        9007199254740993.0,
        1e20,
        1.7976931348623157e308,
        1.2345678901234567e-12,
        -1234567890.0987654,
        7.9e28,
    ] {
        let vars = json!({ "x": x });
        let got = e.eval(&vars).unwrap();
        assert_eq!(got.as_f64(), Some(x), "x = {x:e}: {got}");
        if x.abs() < 7.9e28 {
            let got = plus_zero.eval(&vars).unwrap();
            assert_eq!(got.as_f64(), Some(x), "x + 0 with x = {x:e}: {got}");
        }
    }
}

/// Digits past the 28th decimal place are rounded away when read from JSON.
#[test]
fn json_tiny_numbers() {
    let e = Expression::parse("x").unwrap();
    for (x, exp) in
        [(5e-324, json!(0)), (1e-29, json!(0)), (1e-28, json!(1e-28)), (f64::EPSILON, json!(2.22044604925e-16))]
    {
        assert_eq!(e.eval(&json!({ "x": x })).unwrap(), exp, "x = {x:e}");
    }
}

#[test]
fn an_expression_that_builds_too_much_is_an_error_not_the_memory_of_the_process() {
    let text = "x".repeat(10_000);
    let vars = json!({"text": text});
    // 100,000 copies of 10 KB would be about 1 GB: the limit (4 MiB by default) stops it early.
    let e = sluice_feel::Expression::parse("for i in 1..100000 return text").unwrap().eval(&vars).unwrap_err();
    assert!(e.to_string().contains("larger than the limit"), "{e}");
    // Concatenations inside a loop are counted too.
    let e = sluice_feel::Expression::parse("string join(for i in 1..1000 return text + text)").unwrap().eval(&vars);
    assert!(e.unwrap_err().to_string().contains("larger than the limit"));
    // Honest expressions are not affected: a few hundred small items, a read of a large value.
    let ok = sluice_feel::Expression::parse("for i in 1..500 return {n: i, s: \"item \" + string(i)}").unwrap();
    assert_eq!(ok.eval(&vars).unwrap().as_array().unwrap().len(), 500);
    assert_eq!(sluice_feel::Expression::parse("text").unwrap().eval(&vars).unwrap().as_str().unwrap().len(), 10_000);
}

/// What an expression may build or how deep it may call stays bounded with the new built-ins
/// and user-defined functions: errors, never a crash or an unbounded allocation.
#[test]
fn hostile_builtins_and_functions() {
    // Runs on a thread with the 2 MiB stack of a tokio worker.
    let t = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            check_err("{f: function(n) f(n + 1), r: f(1)}.r", n(), "too deeply");
            let nested = format!("{}f(n + 1){}", "(".repeat(55), ")".repeat(55));
            check_err(&format!("{{f: function(n) {nested}, r: f(1)}}.r"), n(), "too deeply");
            check_err("{f: function(n) sort([3, 2, 1], function(a, b) f(n + 1) = 0), r: f(1)}.r", n(), "too deeply");
        })
        .unwrap();
    t.join().unwrap();
    let big = json!({"d": "x".repeat(1 << 20), "xs": (0..100_000).collect::<Vec<_>>()});
    check_err("string join(for i in 1..1000 return \"a\", d)", big.clone(), "max_value_bytes");
    check_err("replace(d, \"x\", \"$0$0$0$0$0$0\")", big.clone(), "max_value_bytes");
    check_err("concatenate(xs, xs, xs, xs, xs, xs, xs, xs, xs, xs, xs, xs, xs)", big.clone(), "max_value_bytes");
    check_err("to base64(string join([d, d, d, d]))", big.clone(), "max_value_bytes");
    check_err("distinct values(xs)", big.clone(), "runs too long");
    check_parse_err("matches(\"a\", \"(a{1000}){1000}\")", 0, "too large");
    check("count(partition(xs, 7))", big, json!(14286));
}

#[test]
fn functions_ranges_and_new_builtins() {
    for (src, exp) in [
        ("(function(x) x * 2)(21)", json!(42)),
        ("{double: function(x) x * 2, r: double(4)}.r", json!(8)),
        ("{add: function(a, b) a + b, r: add(b: 1, a: 2)}.r", json!(3)),
        ("{fact: function(n) if n <= 1 then 1 else n * fact(n - 1), r: fact(5)}.r", json!(120)),
        ("sort([3, 1, 2], function(x, y) x > y)", json!([3, 2, 1])),
        ("sort([\"b\", \"a\"])", json!(["a", "b"])),
        ("matches(\"EU-1\", \"^E\")", json!(true)),
        ("replace(\"abc\", \"b\", \"[$0]\")", json!("a[b]c")),
        ("split(\"a1b22c\", \"\\d+\")", json!(["a", "b", "c"])),
        ("extract(\"a1b22c\", \"\\d+\")", json!(["1", "22"])),
        ("string join([\"a\", null, \"b\"], \", \", \"[\", \"]\")", json!("[a, b]")),
        ("is blank(\"  \")", json!(true)),
        ("from base64(to base64(\"héllo\"))", json!("héllo")),
        ("from json(\"{\\\"a\\\": [1, 2]}\").a[2]", json!(2)),
        ("to json({a: [1, \"x\"]})", json!("{\"a\":[1,\"x\"]}")),
        ("product([2, 3, 4])", json!(24)),
        ("median([8, 2, 5, 7])", json!(6)),
        ("mode([3, 6, 1, 9, 6, 1, 3])", json!([1, 3, 6])),
        ("union([1, 2], [2, 3])", json!([1, 2, 3])),
        ("duplicate values([1, 2, 1, 3, 2])", json!([1, 2])),
        ("flatten([[1, [2]], 3])", json!([1, 2, 3])),
        ("is empty([])", json!(true)),
        ("partition([1, 2, 3], 2)", json!([[1, 2], [3]])),
        ("list replace([1, 2, 3], 2, 9)", json!([1, 9, 3])),
        ("get value({a: 1}, \"a\")", json!(1)),
        ("context put({a: 1}, \"b\", 2)", json!({"a": 1, "b": 2})),
        ("context put({a: {b: 1}}, [\"a\", \"c\"], 2)", json!({"a": {"b": 1, "c": 2}})),
        ("context merge([{a: 1}, {a: 2, b: 3}])", json!({"a": 2, "b": 3})),
        ("5 in [1..10]", json!(true)),
        ("5 in (5..10]", json!(false)),
        ("before(1, [2..5])", json!(true)),
        ("overlaps([1..5], [4..8])", json!(true)),
        ("includes([1..10], 10)", json!(true)),
        ("[1..10].end", json!(10)),
        ("@\"2026-03-01\" - @\"2026-02-01\"", json!("P28D")),
        ("@\"2026-01-31T10:00:00+02:00\"", json!("2026-01-31T10:00:00+02:00")),
        ("day of week(@\"2026-05-01\")", json!("Friday")),
        ("day of year(@\"2026-02-01\")", json!(32)),
        ("week of year(@\"2026-01-01\")", json!(1)),
        ("month of year(@\"2026-05-01\")", json!("May")),
        ("last day of month(@\"2028-02-10\")", json!("2028-02-29")),
        ("[1, 2] instance of list<number>", json!(true)),
        ("{a: 1} instance of context<a: string>", json!(false)),
        ("(function(x) x) instance of function<Any> -> Any", json!(true)),
        ("number(\"1.000,5\", \".\", \",\")", json!(1000.5)),
        ("time(10, 30, 0, duration(\"PT2H\"))", json!("10:30:00+02:00")),
        ("date(2026, 2, 28) + duration(\"P1D\")", json!("2026-03-01")),
        ("is(@\"10:00:00Z\", @\"10:00:00Z\")", json!(true)),
    ] {
        check(src, n(), exp);
    }
    check_err("now()", n(), "not given one");
    let at = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
    let vars = json!({});
    let with_now = sluice_feel::WithNow { vars: &vars, now: at };
    let e = Expression::parse("now()").unwrap();
    assert_eq!(e.eval(&with_now).unwrap(), json!("2026-01-01T00:00:00Z"));
    let e = Expression::parse("today() + duration(\"P1D\")").unwrap();
    assert_eq!(e.eval(&with_now).unwrap(), json!("2026-01-02"));
    check_parse_err("foo(1)", 0, "unknown function `foo`");
    check_parse_err("matches(\"a\", \"(\")", 0, "not a regular expression");
    check_err("matches(\"a\", p)", json!({"p": "("}), "not a regular expression");
}
