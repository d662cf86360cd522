//! DMN unary tests: the input entries of a decision table and the allowed values of its inputs
//! and outputs (`-`, `< 5`, `[1..10]`, `"a", "b"`, `not("x")`, `? > 5 and ? < 10`).

use rust_decimal::Decimal;
use serde_json::Value;

use crate::ast::{CmpOp, Expr, Lit, Test};
use crate::eval::{Env, Val};
use crate::parser::{UTest, parse_unary_tests};
use crate::{EvalError, FeelValue, ParseError, Variables};

/// Compiled unary tests: parse once, test many inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryTests {
    source: String,
    /// None: `-`, any input. Else whether the tests are negated (`not(...)`) and the tests.
    tests: Option<(bool, Vec<UTest>)>,
}

/// What static analysis can see of unary tests (for checks such as overlapping rules).
#[derive(Debug, Clone, PartialEq)]
pub enum TestsShape {
    /// `-`: every input passes.
    Any,
    /// Alternatives made of constants only: the input passes exactly when one of them holds.
    Constant(Vec<ConstTest>),
    /// Anything else (names, function calls, `not(...)`, `?`): not analysed.
    Opaque,
}

/// One constant test.
#[derive(Debug, Clone, PartialEq)]
pub enum ConstTest {
    /// Equal to this string or boolean.
    Equals(Value),
    /// A number in this interval; an end is `(bound, included)`, None when open.
    Numbers { lo: Option<(Decimal, bool)>, hi: Option<(Decimal, bool)> },
}

impl UnaryTests {
    /// Parses unary tests.
    pub fn parse(src: &str) -> Result<UnaryTests, ParseError> {
        UnaryTests::parse_with_names(src, &[])
    }

    /// Parses unary tests whose names may hold characters that otherwise separate names (see
    /// [`crate::Expression::parse_with_names`]).
    pub fn parse_with_names(src: &str, names: &[&str]) -> Result<UnaryTests, ParseError> {
        Ok(UnaryTests { source: src.to_string(), tests: parse_unary_tests(src, names)? })
    }

    /// The source text as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True for `-`.
    pub fn is_any(&self) -> bool {
        self.tests.is_none()
    }

    /// Whether `input` passes. A test that gives null (`null < 5`) does not pass; `not(...)`
    /// passes only when every test is false. An expression using `?` must give a boolean or
    /// null; anything else is an error.
    pub fn test(&self, input: &FeelValue, vars: &dyn Variables) -> Result<bool, EvalError> {
        let Some((negated, tests)) = &self.tests else { return Ok(true) };
        let mut env = Env::new(vars);
        let v: &Val<'_> = &input.0;
        let mut saw_null = false;
        let mut hit = false;
        for t in tests {
            let r = match t {
                UTest::Test(t) => env.test(v, t)?,
                UTest::Cond(e) => match env.eval_with("?", v.clone(), e)? {
                    Val::Bool(b) => Some(b),
                    Val::Null => None,
                    other => {
                        return Err(EvalError {
                            message: format!("a test using `?` must give a boolean but it gave {}", other.kind()),
                            offset: None,
                        });
                    }
                },
            };
            match r {
                Some(true) => {
                    hit = true;
                    break;
                }
                Some(false) => {}
                None => saw_null = true,
            }
        }
        Ok(if *negated { !hit && !saw_null } else { hit })
    }

    /// The position (0-based) of the first test `input` passes, ignoring `not(...)`: how
    /// PRIORITY and OUTPUT ORDER rank an output by its output values.
    pub fn position(&self, input: &FeelValue, vars: &dyn Variables) -> Result<Option<usize>, EvalError> {
        let Some((_, tests)) = &self.tests else { return Ok(Some(0)) };
        let mut env = Env::new(vars);
        let v: &Val<'_> = &input.0;
        for (i, t) in tests.iter().enumerate() {
            let r = match t {
                UTest::Test(t) => env.test(v, t)?,
                UTest::Cond(e) => match env.eval_with("?", v.clone(), e)? {
                    Val::Bool(b) => Some(b),
                    _ => None,
                },
            };
            if r == Some(true) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// What static analysis can see of the tests.
    pub fn shape(&self) -> TestsShape {
        let Some((negated, tests)) = &self.tests else { return TestsShape::Any };
        if *negated {
            return TestsShape::Opaque;
        }
        let mut out = Vec::with_capacity(tests.len());
        for t in tests {
            let c = match t {
                UTest::Test(Test::Value(e)) => match constant(e) {
                    Some(Const::Num(n)) => ConstTest::Numbers { lo: Some((n, true)), hi: Some((n, true)) },
                    Some(Const::Other(v)) => ConstTest::Equals(v),
                    None => return TestsShape::Opaque,
                },
                UTest::Test(Test::Cmp(op, e)) => {
                    let Some(Const::Num(n)) = constant(e) else { return TestsShape::Opaque };
                    match op {
                        CmpOp::Lt => ConstTest::Numbers { lo: None, hi: Some((n, false)) },
                        CmpOp::Le => ConstTest::Numbers { lo: None, hi: Some((n, true)) },
                        CmpOp::Gt => ConstTest::Numbers { lo: Some((n, false)), hi: None },
                        CmpOp::Ge => ConstTest::Numbers { lo: Some((n, true)), hi: None },
                        CmpOp::Eq => ConstTest::Numbers { lo: Some((n, true)), hi: Some((n, true)) },
                        CmpOp::Ne => return TestsShape::Opaque,
                    }
                }
                UTest::Test(Test::Range { lo, lo_incl, hi, hi_incl }) => match (constant(lo), constant(hi)) {
                    (Some(Const::Num(a)), Some(Const::Num(b))) => {
                        ConstTest::Numbers { lo: Some((a, *lo_incl)), hi: Some((b, *hi_incl)) }
                    }
                    _ => return TestsShape::Opaque,
                },
                UTest::Cond(_) => return TestsShape::Opaque,
            };
            out.push(c);
        }
        TestsShape::Constant(out)
    }
}

enum Const {
    Num(Decimal),
    Other(Value),
}

/// A literal number, string or boolean.
fn constant(e: &Expr) -> Option<Const> {
    Some(match e {
        Expr::Lit(Lit::Int(i)) => Const::Num(Decimal::from(*i)),
        Expr::Lit(Lit::Num(d)) => Const::Num(*d),
        Expr::Lit(Lit::Str(s)) => Const::Other(Value::String(s.clone())),
        Expr::Lit(Lit::Bool(b)) => Const::Other(Value::Bool(*b)),
        Expr::Neg(x) => match constant(x)? {
            Const::Num(n) => Const::Num(-n),
            Const::Other(_) => return None,
        },
        _ => return None,
    })
}
